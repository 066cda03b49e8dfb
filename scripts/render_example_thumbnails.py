"""Render each example workflow's graph, as the real front end draws it, into its .jpg thumbnail.

ComfyUI's template browser shows ``example_workflows/<name>.jpg`` beside ``<name>.json``. This starts
the pinned ComfyUI server with this pack, opens each workflow in Debian's Chromium, and saves a
picture of the canvas. Run after changing an example: ``.venv/bin/python scripts/render_example_thumbnails.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from headless.comfy_env import REPO_ROOT  # noqa: E402
from headless.comfy_server import prepare_base_directory, running_server  # noqa: E402

EXAMPLES = REPO_ROOT / "example_workflows"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
THUMBNAIL_SIZE = (800, 500)


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium: apt-get install chromium fonts-liberation")
    base = Path(tempfile.mkdtemp(prefix="noise-search-thumbnails-"))
    prepare_base_directory(base, {})
    with running_server(base, base / "server.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(url)
        page.wait_for_function("() => window.app?.graph && window.app.vueAppReady", timeout=60_000)
        for workflow in sorted(EXAMPLES.glob("*.json")):
            page.evaluate("async (graph) => { await app.loadGraphData(graph); app.canvas.ds.scale = 0.6; "
                          "app.canvas.ds.offset = [90, 130]; app.canvas.setDirty(true, true); }",
                          json.loads(workflow.read_text()))
            page.wait_for_timeout(500)
            shot = base / f"{workflow.stem}.png"
            page.locator("#graph-canvas").screenshot(path=str(shot))
            image = Image.open(shot).convert("RGB")
            image.thumbnail(THUMBNAIL_SIZE)
            image.save(workflow.with_suffix(".jpg"), quality=85)
            print(f"wrote {workflow.with_suffix('.jpg').relative_to(REPO_ROOT)}")
        browser.close()


if __name__ == "__main__":
    main()
