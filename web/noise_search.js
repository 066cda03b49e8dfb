// Noise Search: the search's status and its candidate gallery on the search-sampler nodes.
// Data arrives only through ComfyUI's own channels: the node's UI output ("noise_search", sent with the
// "executed" message, again when the result comes from the cache since the node is an output node, and
// restored by the front end on a tab switch through onNodeOutputsUpdated), the server's /history after a
// page reload, and the "noise_search.status" events the node sends while it searches.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const SEARCH_NODES = new Set(["NoiseSearchSampler", "NoiseSearchSamplerAdvanced"]);
const STATUS_EVENT = "noise_search.status";
const STYLE_ID = "noise-search-style";
const PANEL_HEIGHT = 360; // the status, the winner beside the curve, and two rows of thumbnails
const NODE_WIDTH = 420;
const RESULT_PROPERTY = "noise_search_prompt"; // the id of the prompt whose result the node shows
const STYLE = `
.noise-search-panel { display: flex; flex-direction: column; gap: 6px; font: 11px sans-serif; color: #ddd;
  height: 100%; box-sizing: border-box; padding: 4px; overflow: hidden; }
.noise-search-status { flex: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; opacity: 0.9; }
.noise-search-status[data-state="cancelled"], .noise-search-status[data-state="failed"] { color: #f7768e; opacity: 1; }
.noise-search-body { flex: 1; min-height: 0; display: flex; flex-direction: column; gap: 6px; }
.noise-search-stale .noise-search-body { opacity: 0.35; filter: grayscale(1); }
.noise-search-top { flex: none; display: flex; gap: 8px; height: 128px; }
.noise-search-hero { flex: none; width: 112px; margin: 0; }
.noise-search-hero img { width: 112px; height: 112px; }
.noise-search-grid { flex: 1; min-height: 0; overflow-y: auto; display: grid; align-content: start;
  grid-template-columns: repeat(auto-fill, minmax(72px, 1fr)); gap: 5px; }
.noise-search-thumb { position: relative; cursor: zoom-in; border: 2px solid transparent; border-radius: 4px;
  background: #0003; margin: 0; }
.noise-search-thumb img { width: 100%; aspect-ratio: 1; object-fit: contain; display: block; border-radius: 2px; }
.noise-search-thumb figcaption { text-align: center; font-size: 10px; line-height: 1.3; padding: 1px 0; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.noise-search-winner { border-color: #e0af68; }
.noise-search-winner::after { content: "★"; position: absolute; top: 1px; left: 4px; color: #e0af68;
  font-size: 14px; text-shadow: 0 0 3px #000; }
.noise-search-curve { flex: 1; min-width: 0; display: grid; grid-template-columns: auto 1fr;
  grid-template-rows: 1fr auto; gap: 2px 4px; background: #0003; border-radius: 4px; padding: 4px 6px 2px 2px;
  font-size: 10px; }
.noise-search-curve-y { display: flex; flex-direction: column; justify-content: space-between; align-items: flex-end; }
.noise-search-curve-y .noise-search-axis-title { writing-mode: vertical-rl; transform: rotate(180deg); opacity: 0.7; }
.noise-search-curve-x { grid-column: 2; display: flex; justify-content: space-between; }
.noise-search-axis-title { opacity: 0.7; }
.noise-search-plot { width: 100%; height: 100%; min-height: 0; display: block; border-left: 1px solid #fff4;
  border-bottom: 1px solid #fff4; box-sizing: border-box; }
.noise-search-overlay { position: fixed; inset: 0; background: #000d; z-index: 10000; display: flex;
  align-items: center; justify-content: center; gap: 16px; color: #eee; font: 14px sans-serif; }
.noise-search-overlay figure { margin: 0; display: flex; flex-direction: column; align-items: center; gap: 8px;
  cursor: zoom-out; }
.noise-search-overlay img { max-width: 80vw; max-height: 80vh; min-width: min(512px, 80vw); object-fit: contain; }
.noise-search-overlay button { font: 28px sans-serif; color: #eee; background: #fff2; border: none;
  border-radius: 6px; width: 48px; height: 72px; cursor: pointer; }
.noise-search-overlay button:disabled { opacity: 0.2; cursor: default; }
`;

function ensureStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = STYLE;
  document.head.append(style);
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function viewUrl(entry) {
  const params = new URLSearchParams({ filename: entry.filename, subfolder: entry.subfolder, type: entry.type });
  return api.apiURL(`/view?${params}`);
}

function formatScore(score) {
  return Number(score).toPrecision(4);
}

function formatCount(value) {
  return Number.isInteger(value) ? value.toLocaleString() : value.toLocaleString(undefined, { maximumFractionDigits: 1 });
}

function caption(entry) {
  return `#${entry.rank} · score ${formatScore(entry.score)} · seed ${entry.seed}`;
}

function progressText({ done, total, best, nfes }) {
  return `candidate ${done}/${total} · best ${formatScore(best)} · ${nfes.toLocaleString()} NFEs`;
}

function summaryText(gallery) {
  const { search, render, plain_image: plain } = gallery.nfes;
  const cost = plain ? `, the cost of ${formatCount(search / plain)} plain images` : "";
  const renderCost = render ? ` + ${render.toLocaleString()} to render the winner` : "";
  const verifierTime = gallery.verifier_seconds ? ` · verifier ${gallery.verifier_seconds.toFixed(2)} s` : "";
  return `${gallery.algorithm}: ${gallery.finished_candidates} candidates · ${search.toLocaleString()} NFEs${cost}${renderCost}${verifierTime}`;
}

function thumbnailImage(entry) {
  const image = document.createElement("img");
  image.addEventListener("load", () => {  // small images (16 px digits) are enlarged pixel for pixel, not blurred
    if (image.naturalWidth < 128) image.style.imageRendering = "pixelated";
  });
  image.src = viewUrl(entry);
  image.alt = caption(entry);
  image.draggable = false;
  return image;
}

/** The large view: one candidate at a time, previous/next with the buttons or arrow keys, Escape closes. */
function showLarge(entries, start) {
  document.querySelector(".noise-search-overlay")?.remove();
  const overlay = element("div", "noise-search-overlay");
  const previous = element("button", "noise-search-previous", "‹");
  const next = element("button", "noise-search-next", "›");
  previous.title = "Previous candidate (←)";
  next.title = "Next candidate (→)";
  const figure = element("figure");
  let index = start;
  const show = (to) => {
    index = Math.min(Math.max(to, 0), entries.length - 1);
    const label = element("figcaption", "", caption(entries[index]));
    figure.replaceChildren(thumbnailImage(entries[index]), label);
    previous.disabled = index === 0;
    next.disabled = index === entries.length - 1;
  };
  const close = () => {
    overlay.remove();
    document.removeEventListener("keydown", onKey, true);
  };
  const onKey = (event) => {
    const actions = { Escape: close, ArrowLeft: () => show(index - 1), ArrowRight: () => show(index + 1) };
    if (!actions[event.key]) return;
    event.preventDefault();
    event.stopPropagation();
    actions[event.key]();
  };
  previous.addEventListener("click", (event) => { event.stopPropagation(); show(index - 1); });
  next.addEventListener("click", (event) => { event.stopPropagation(); show(index + 1); });
  overlay.addEventListener("click", close);
  document.addEventListener("keydown", onKey, true);
  overlay.append(previous, figure, next);
  show(start);
  document.body.append(overlay);
}

/** Best score so far (y) against NFEs spent (x) as a step line; labels in HTML, so they never stretch or clip. */
function curveView(curve) {
  const view = element("div", "noise-search-curve");
  view.title = "Best score so far against NFEs spent";
  const ns = "http://www.w3.org/2000/svg";
  const plot = document.createElementNS(ns, "svg");
  plot.setAttribute("class", "noise-search-plot");
  plot.setAttribute("viewBox", "0 0 100 100");
  plot.setAttribute("preserveAspectRatio", "none");
  const xs = curve.map(([nfes]) => nfes);
  const ys = curve.map(([, score]) => score);
  const xMax = Math.max(0, ...xs) || 1;
  let [yMin, yMax] = curve.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const labelMin = yMin;
  if (yMin === yMax) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const x = (value) => (value / xMax) * 100;
  const y = (value) => 95 - ((value - yMin) / (yMax - yMin)) * 90;
  const points = [];
  curve.forEach(([nfes, score], i) => {
    if (i > 0) points.push(`${x(nfes)},${y(curve[i - 1][1])}`);
    points.push(`${x(nfes)},${y(score)}`);
  });
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#7aa2f7");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  plot.append(line);
  const yAxis = element("div", "noise-search-curve-y");
  yAxis.append(element("span", "", formatScore(curve.length ? yMax : 1)),
    element("span", "noise-search-axis-title", "best score"),
    element("span", "", formatScore(curve.length ? labelMin : 0)));
  const xAxis = element("div", "noise-search-curve-x");
  xAxis.append(element("span", "", "0"), element("span", "noise-search-axis-title", "NFEs spent"),
    element("span", "", `${xMax.toLocaleString()} NFEs`));
  view.append(yAxis, plot, xAxis);
  return view;
}

function thumbnail(entry, isWinner, onOpen) {
  const figure = element("figure", "noise-search-thumb");
  if (isWinner) figure.classList.add("noise-search-winner");
  figure.dataset.rank = entry.rank;
  figure.dataset.score = entry.score;
  figure.dataset.seed = entry.seed;
  figure.title = caption(entry);
  figure.append(thumbnailImage(entry), element("figcaption", "", `${formatScore(entry.score)} · seed ${entry.seed}`));
  figure.addEventListener("click", onOpen);
  return figure;
}

function panelFor(node) {
  if (!node.noiseSearchPanel) {
    ensureStyle();
    const panel = element("div", "noise-search-panel");
    const status = element("div", "noise-search-status");
    const body = element("div", "noise-search-body");
    panel.append(status, body);
    // Stop wheel events from zooming the canvas while the grid scrolls.
    panel.addEventListener("wheel", (event) => event.stopPropagation(), { passive: true });
    node.addDOMWidget("noise_search_gallery", "noise_search_gallery", panel, {
      serialize: false,
      getMinHeight: () => PANEL_HEIGHT,
    });
    node.noiseSearchPanel = { panel, status, body, running: false, galleryKey: null, lastStatus: null };
    const [width, height] = node.size;
    const needed = node.computeSize();
    node.setSize([Math.max(width, NODE_WIDTH), Math.max(height, needed[1])]);
  }
  return node.noiseSearchPanel;
}

function setStatus(panel, text, state) {
  panel.status.textContent = text;
  panel.status.dataset.state = state;
  panel.status.title = text;
}

function renderGallery(node, gallery) {
  const panel = panelFor(node);
  const key = gallery.candidates[0]?.filename ?? JSON.stringify(gallery.curve);
  panel.running = false;
  panel.panel.classList.remove("noise-search-stale");
  setStatus(panel, summaryText(gallery), "finished");
  if (panel.galleryKey === key) return;
  panel.galleryKey = key;
  const entries = gallery.candidates;
  const winnerAt = Math.max(0, entries.findIndex((entry) => entry.index === gallery.best_index));
  const top = element("div", "noise-search-top");
  if (entries.length) {
    const hero = thumbnail(entries[winnerAt], true, () => showLarge(entries, winnerAt));
    hero.classList.add("noise-search-hero");
    top.append(hero);
  }
  top.append(curveView(gallery.curve));
  const grid = element("div", "noise-search-grid");
  entries.forEach((entry, i) => grid.append(thumbnail(entry, i === winnerAt, () => showLarge(entries, i))));
  panel.body.replaceChildren(top, grid);
  node.setDirtyCanvas(true, true);
}

function markRunning(node) {
  const panel = panelFor(node);
  panel.running = true;
  panel.lastStatus = null;
  panel.panel.classList.toggle("noise-search-stale", panel.galleryKey !== null);
  setStatus(panel, panel.galleryKey === null ? "searching…" : "searching… (below: the previous run)", "running");
  node.setDirtyCanvas(true, false);
}

function markStopped(node, state, reason) {
  const panel = node.noiseSearchPanel;
  if (!panel?.running) return;
  panel.running = false;
  panel.galleryKey = null;
  delete node.properties[RESULT_PROPERTY];
  panel.body.replaceChildren();
  panel.panel.classList.remove("noise-search-stale");
  const reached = panel.lastStatus ? ` at ${progressText(panel.lastStatus)}` : "";
  setStatus(panel, `${state === "cancelled" ? "Cancelled" : "Failed"}${reached}: no result.${reason ? ` ${reason}` : ""}`, state);
  node.setDirtyCanvas(true, true);
}

/** The search node of the root graph with this id; ids inside subgraphs ("12:5") are drawn by onExecuted alone. */
function searchNode(id) {
  if (id === null || id === undefined || String(id).includes(":")) return null;
  const node = app.graph?.getNodeById(Number(id));
  return node && SEARCH_NODES.has(node.comfyClass) ? node : null;
}

function searchNodes() {
  return (app.graph?.nodes ?? []).filter((node) => SEARCH_NODES.has(node.comfyClass));
}

/**
 * After a page reload or reopening a saved workflow: the node's last result, from the server's history of the
 * prompt that made it (the node keeps that prompt's id in its properties), while the server still has it.
 */
async function restoreFromHistory(node) {
  const promptId = node.properties?.[RESULT_PROPERTY];
  if (!promptId || node.noiseSearchPanel) return;
  let item;
  try {
    item = (await (await api.fetchApi(`/history/${encodeURIComponent(promptId)}`)).json())[promptId];
  } catch {
    return;  // the server cannot say: the node stays as it is
  }
  const gallery = item?.outputs?.[String(node.id)]?.noise_search?.[0];
  const [, , prompt] = item?.prompt ?? [];
  if (gallery && prompt?.[String(node.id)]?.class_type === node.comfyClass && !node.noiseSearchPanel) {
    renderGallery(node, gallery);
  }
}

app.registerExtension({
  name: "comfyui-noise-search.gallery",
  setup() {
    api.addEventListener("executing", ({ detail }) => {
      const node = searchNode(detail?.node ?? detail);
      if (node) markRunning(node);
    });
    api.addEventListener("executed", ({ detail }) => {
      const node = detail?.output?.noise_search && searchNode(detail.node);
      if (!node || !detail.prompt_id || node.properties[RESULT_PROPERTY] === detail.prompt_id) return;
      node.properties[RESULT_PROPERTY] = detail.prompt_id;
      app.extensionManager?.workflow?.activeWorkflow?.changeTracker?.checkState();  // saved with the page's state
    });
    api.addEventListener(STATUS_EVENT, ({ detail }) => {
      const node = searchNode(detail.node);
      const panel = node && panelFor(node);
      if (!panel?.running) return;
      panel.lastStatus = detail;
      setStatus(panel, progressText(detail), "running");
    });
    api.addEventListener("execution_interrupted", () => {
      for (const node of searchNodes()) markStopped(node, "cancelled");
    });
    api.addEventListener("execution_error", ({ detail }) => {
      for (const node of searchNodes()) markStopped(node, "failed", detail.exception_message);
    });
  },
  async afterConfigureGraph() {
    // A tab switch restores node outputs right after this (onNodeOutputsUpdated); a page reload restores none.
    const nodes = searchNodes();
    setTimeout(() => nodes.forEach(restoreFromHistory), 0);
  },
  onNodeOutputsUpdated(nodeOutputs) {
    for (const [id, output] of Object.entries(nodeOutputs ?? {})) {
      const gallery = output?.noise_search?.[0];
      const node = gallery && searchNode(id);
      if (node && !node.noiseSearchPanel?.running) renderGallery(node, gallery);
    }
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!SEARCH_NODES.has(nodeData.name)) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      onExecuted?.apply(this, arguments);
      const gallery = output?.noise_search?.[0];
      if (gallery) renderGallery(this, gallery);
    };
  },
});
