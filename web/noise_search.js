// Noise Search: live progress and a candidate gallery on the search-sampler nodes.
// Data arrives only through ComfyUI's own channels: the node's UI output ("noise_search", sent with
// the "executed" message) and the "progress_text" messages the node sends while it searches.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const SEARCH_NODES = new Set(["NoiseSearchSampler", "NoiseSearchSamplerAdvanced"]);
const STYLE_ID = "noise-search-style";
const PANEL_MIN_HEIGHT = 360;
const STYLE = `
.noise-search-panel { display: flex; flex-direction: column; gap: 6px; font: 11px sans-serif;
  color: #ddd; overflow: auto; height: 100%; box-sizing: border-box; padding: 4px; }
.noise-search-status { opacity: 0.85; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.noise-search-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(72px, 1fr)); gap: 6px; }
.noise-search-thumb { position: relative; cursor: zoom-in; border: 2px solid transparent; border-radius: 4px;
  background: #0003; }
.noise-search-thumb img { width: 100%; aspect-ratio: 1; object-fit: contain; display: block; border-radius: 2px; }
.noise-search-thumb figcaption { text-align: center; line-height: 1.3; padding: 1px 0; }
.noise-search-winner { border-color: #e0af68; }
.noise-search-winner figcaption::before { content: "★ "; color: #e0af68; }
.noise-search-curve { width: 100%; height: 90px; background: #0003; border-radius: 4px; }
.noise-search-overlay { position: fixed; inset: 0; background: #000c; z-index: 10000; display: flex;
  flex-direction: column; align-items: center; justify-content: center; cursor: zoom-out; color: #eee;
  font: 14px sans-serif; gap: 8px; }
.noise-search-overlay img { max-width: 90vw; max-height: 80vh; min-width: min(512px, 90vw); object-fit: contain; }
`;

function ensureStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = STYLE;
  document.head.append(style);
}

function viewUrl(entry) {
  const params = new URLSearchParams({ filename: entry.filename, subfolder: entry.subfolder, type: entry.type });
  return api.apiURL(`/view?${params}`);
}

function formatScore(score) {
  return Number(score).toPrecision(4);
}

function caption(entry) {
  return `#${entry.rank} · ${formatScore(entry.score)} · seed ${entry.seed}`;
}

/** Small images (e.g. 16 px samples) are enlarged pixel for pixel instead of blurred. */
function sharpWhenEnlarged(image) {
  image.addEventListener("load", () => {
    if (image.naturalWidth < 128) image.style.imageRendering = "pixelated";
  });
}

function showLarge(entry) {
  const overlay = document.createElement("div");
  overlay.className = "noise-search-overlay";
  const image = document.createElement("img");
  sharpWhenEnlarged(image);
  image.src = viewUrl(entry);
  const text = document.createElement("div");
  text.textContent = caption(entry);
  overlay.append(image, text);
  overlay.addEventListener("click", () => overlay.remove());
  document.body.append(overlay);
}

// The scaling curve: best score so far (y) against NFEs spent (x), as a step line.
function curveSvg(curve) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "noise-search-curve");
  svg.setAttribute("viewBox", "0 0 300 90");
  svg.setAttribute("preserveAspectRatio", "none");
  if (!curve.length) return svg;
  const xs = curve.map(([nfes]) => nfes);
  const ys = curve.map(([, score]) => score);
  const xMax = Math.max(...xs) || 1;
  let [yMin, yMax] = [Math.min(...ys), Math.max(...ys)];
  if (yMin === yMax) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const x = (value) => 30 + (value / xMax) * 262;
  const y = (value) => 80 - ((value - yMin) / (yMax - yMin)) * 70;
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
  const label = (text, lx, ly) => {
    const element = document.createElementNS(ns, "text");
    element.setAttribute("x", lx);
    element.setAttribute("y", ly);
    element.setAttribute("fill", "currentColor");
    element.setAttribute("font-size", "9");
    element.textContent = text;
    return element;
  };
  svg.append(line, label(formatScore(yMax), 2, 12), label(formatScore(yMin), 2, 82),
    label(`${xMax.toLocaleString()} NFEs`, 230, 89));
  return svg;
}

function panelFor(node) {
  if (!node.noiseSearchPanel) {
    ensureStyle();
    const panel = document.createElement("div");
    panel.className = "noise-search-panel";
    const status = document.createElement("div");
    status.className = "noise-search-status";
    const body = document.createElement("div");
    panel.append(status, body);
    node.addDOMWidget("noise_search_gallery", "noise_search_gallery", panel, {
      serialize: false,
      getMinHeight: () => PANEL_MIN_HEIGHT,
    });
    node.noiseSearchPanel = { panel, status, body, finished: false };
    node.setSize([Math.max(node.size[0], 380), node.computeSize()[1]]);
  }
  return node.noiseSearchPanel;
}

function renderGallery(node, gallery) {
  const panel = panelFor(node);
  const { status, body } = panel;
  panel.finished = true;
  const { search, render, plain_image: plain } = gallery.nfes;
  const multiple = plain ? ` = ${(search / plain).toFixed(1)} images` : "";
  status.textContent = `${gallery.algorithm}: ${gallery.finished_candidates} candidates · `
    + `${search.toLocaleString()} NFEs${multiple}${render ? ` + ${render} to render the winner` : ""}`;
  const grid = document.createElement("div");
  grid.className = "noise-search-grid";
  for (const entry of gallery.candidates) {
    const figure = document.createElement("figure");
    figure.className = "noise-search-thumb";
    figure.style.margin = "0";
    if (entry.index === gallery.best_index) figure.classList.add("noise-search-winner");
    figure.dataset.rank = entry.rank;
    figure.dataset.score = entry.score;
    figure.dataset.seed = entry.seed;
    figure.title = caption(entry);
    const image = document.createElement("img");
    sharpWhenEnlarged(image);
    image.src = viewUrl(entry);
    image.alt = caption(entry);
    const text = document.createElement("figcaption");
    text.textContent = `${formatScore(entry.score)} · ${entry.seed}`;
    figure.append(image, text);
    figure.addEventListener("click", () => showLarge(entry));
    grid.append(figure);
  }
  body.replaceChildren(grid, curveSvg(gallery.curve));
  node.setDirtyCanvas(true, true);
}

app.registerExtension({
  name: "comfyui-noise-search.gallery",
  setup() {
    const searchNode = (id) => {
      const node = app.graph?.getNodeById(Number(id));
      return node && SEARCH_NODES.has(node.comfyClass) ? node : null;
    };
    api.addEventListener("executing", ({ detail }) => {
      const node = searchNode(detail?.node ?? detail);
      if (node) panelFor(node).finished = false;
    });
    api.addEventListener("progress_text", ({ detail }) => {
      const node = searchNode(detail.nodeId);
      const panel = node && panelFor(node);
      if (panel && !panel.finished) panel.status.textContent = detail.text;
    });
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
