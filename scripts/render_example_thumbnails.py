"""Render each example workflow's template-browser thumbnail with the real front end in Chromium.

ComfyUI's template browser shows ``example_workflows/<name>.jpg`` beside ``<name>.json`` on a small card.
This starts the pinned ComfyUI server with this pack, opens each example in Debian's Chromium and saves:
- for the demo (the one example that runs here, on the embedded demo model): the search node's gallery after
  a real run, the winner beside the scaling curve above its candidates;
- for the others, whose models cannot be part of this repository: the search sampler with its verifier and
  algorithm, at a zoom where their titles read on the card.
Run after changing an example or the gallery: ``.venv/bin/python scripts/render_example_thumbnails.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from headless.comfy_env import REPO_ROOT  # noqa: E402
from headless.comfy_server import prepare_base_directory, running_server  # noqa: E402

EXAMPLES = REPO_ROOT / "example_workflows"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
THUMBNAIL_SIZE = (640, 480)
SEARCH_NODES = ("NoiseSearchSampler", "NoiseSearchSamplerAdvanced")
# The nodes that say what a search is (the sampler, its verifiers, its algorithm), brought into view at a
# readable zoom; returns the screen rectangle they fill.
SHOW_SEARCH_PARTS = """(types) => {
    const wanted = app.graph.nodes.filter((n) => types.includes(n.type)
        || /^NoiseSearch.*(Verifier|Search|Ensemble|Steering)/.test(n.type));
    const boxes = wanted.map((n) => n.getBounding());
    const left = Math.min(...boxes.map((b) => b[0])), top = Math.min(...boxes.map((b) => b[1]));
    const right = Math.max(...boxes.map((b) => b[0] + b[2])), bottom = Math.max(...boxes.map((b) => b[1] + b[3]));
    const canvas = app.canvas.canvas.getBoundingClientRect();
    const scale = Math.min(1, (canvas.width - 120) / (right - left), (canvas.height - 200) / (bottom - top));
    app.canvas.ds.scale = scale;
    app.canvas.ds.offset = [80 / scale - left, 160 / scale - top];
    app.canvas.setDirty(true, true);
    return { x: canvas.left + 70, y: canvas.top + 150, width: (right - left) * scale + 20, height: (bottom - top) * scale + 20 };
}"""


def fit(shot: Path, target: Path) -> None:
    """The screenshot, scaled to fit the card and centred on the canvas colour."""
    image = Image.open(shot).convert("RGB")
    image.thumbnail(THUMBNAIL_SIZE, Image.LANCZOS)
    card = Image.new("RGB", THUMBNAIL_SIZE, (32, 32, 32))
    card.paste(image, ((THUMBNAIL_SIZE[0] - image.width) // 2, (THUMBNAIL_SIZE[1] - image.height) // 2))
    card.save(target, quality=88)
    print(f"wrote {target.relative_to(REPO_ROOT)}")


def run_demo(page: Page) -> None:
    page.evaluate("""async () => {
        window.thumbnailRun = new Promise((resolve, reject) => {
            app.api.addEventListener("execution_success", resolve);
            app.api.addEventListener("execution_error", ({ detail }) => reject(new Error(detail.exception_message)));
        });
        await app.queuePrompt(0, 1);
        await window.thumbnailRun;
    }""")
    page.wait_for_function("""() => [...document.querySelectorAll('.noise-search-thumb img')]
        .every((image) => image.complete && image.naturalWidth > 0)""", timeout=60_000)


def render(url: str, chromium: str) -> None:
    """Write every example's thumbnail from the front end served at ``url``."""
    shots = Path(tempfile.mkdtemp(prefix="noise-search-thumbnails-"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000}, device_scale_factor=2)
        page.goto(url)
        page.wait_for_function("() => window.app?.graph && window.app.vueAppReady", timeout=60_000)
        for workflow in sorted(EXAMPLES.glob("*.json")):
            graph = json.loads(workflow.read_text())
            page.evaluate("async (graph) => { await app.loadGraphData(graph); }", graph)
            shot = shots / f"{workflow.stem}.png"
            if any(node["type"] == "NoiseSearchDemoModelLoader" for node in graph["nodes"]):
                page.evaluate("() => { app.canvas.ds.scale = 1; app.canvas.setDirty(true, true); }")
                run_demo(page)
                page.locator(".noise-search-panel").screenshot(path=str(shot))
            else:
                clip = page.evaluate(SHOW_SEARCH_PARTS, list(SEARCH_NODES))
                page.wait_for_timeout(500)
                page.screenshot(path=str(shot), clip=clip)
            fit(shot, workflow.with_suffix(".jpg"))
        browser.close()


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium: apt-get install chromium fonts-liberation")
    base = Path(tempfile.mkdtemp(prefix="noise-search-thumbnails-"))
    prepare_base_directory(base, {})
    with running_server(base, base / "server.log", timeout=300.0) as url:
        render(url, chromium)


if __name__ == "__main__":
    main()
