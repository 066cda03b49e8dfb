"""The real front end in a real browser: queue the demo example, see the gallery of real digits on the search node.

Runs the pinned ComfyUI server with its real front end (comfyui-frontend-package) and this pack on the
CPU, drives Debian's Chromium headless with Playwright, and saves a screenshot. Skipped, saying why,
only where Chromium or Playwright is not installed (scripts/setup.sh installs both where it can).
"""

from __future__ import annotations

import json
import shutil

import pytest

from headless.comfy_env import REPO_ROOT
from headless.comfy_server import prepare_base_directory, running_server

EXAMPLE = REPO_ROOT / "example_workflows" / "Noise Search demo (digits on the CPU, random search, no download).json"
CANDIDATES = 8  # of the example's 16, so that the gallery and the scaling curve fit the node without scrolling
BATCH_SIZE = 2  # one point on the scaling curve per batch: the example's single batch of 16 draws no curve
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXTENSION_URL = "/extensions/comfyui-noise-search/"
# What the front end itself logs in this sandbox, with or without this pack, before and after a workflow
# loads. 1.32.9 (ComfyUI 0.3.75): a fresh profile's missing user files, its blocked look-ups of the online
# node registry (no network; --disable-api-nodes), and a TypeError in its own workflow store on every graph
# load. 1.49.6 (ComfyUI 0.33.0): its settings store reading the graph before the app has one, and its
# blocked look-ups of the default template's model files online.
FRONT_END_NOISE = (
    "status of 404 (Not Found) (http://127.0.0.1",
    "violates the following Content Security Policy directive: \"connect-src 'self'",
    "Refused to connect because it violates the document's Content Security Policy",
    "TypeError: Cannot read properties of undefined (reading 'id')\n    at onChange",
    "ComfyApp graph accessed before initialization",
)


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium fonts-liberation); browser test skipped")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed; browser test skipped")
    return path


def demo_example() -> dict:
    """The demo example (the embedded demo model: real digits in seconds on a CPU), CANDIDATES in batches of BATCH_SIZE."""
    workflow = json.loads(EXAMPLE.read_text())
    search = next(node for node in workflow["nodes"] if node["type"] == "NoiseSearchRandomSearch")
    search["widgets_values"][:2] = [CANDIDATES, BATCH_SIZE]
    return workflow


def test_the_gallery_shows_every_candidate_by_descending_score(tmp_path):
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    base = tmp_path / "server"
    prepare_base_directory(base, {})
    console_errors: list[str] = []
    screenshot = tmp_path / "noise_search_gallery.png"
    with running_server(base, tmp_path / "server.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1680, "height": 1000})
        page.on("console", lambda message: message.type == "error" and console_errors.append(
            f"{message.text} ({message.location.get('url', '')})"))
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        page.goto(url)
        page.wait_for_function("() => window.app?.graph && window.app.vueAppReady", timeout=60_000)
        page.wait_for_selector("#graph-canvas")
        page.evaluate("""async (workflow) => {
            window.noiseSearchRun = { done: false, error: null };
            app.api.addEventListener("execution_success", () => { window.noiseSearchRun.done = true; });
            app.api.addEventListener("execution_error", ({ detail }) => {
                window.noiseSearchRun.error = detail.exception_message; window.noiseSearchRun.done = true; });
            await app.loadGraphData(workflow);
            await app.queuePrompt(0, 1);
        }""", demo_example())
        page.wait_for_function("() => window.noiseSearchRun.done", timeout=120_000)
        assert page.evaluate("() => window.noiseSearchRun.error") is None
        thumbnails = page.locator(".noise-search-thumb")
        thumbnails.first.wait_for()
        page.wait_for_function("""() => [...document.querySelectorAll('.noise-search-thumb img')]
            .every(image => image.complete && image.naturalWidth > 0)""", timeout=30_000)
        scores = [float(score) for score in thumbnails.evaluate_all("nodes => nodes.map(n => n.dataset.score)")]
        winners = page.locator(".noise-search-winner").count()
        captions = thumbnails.evaluate_all("nodes => nodes.map(n => n.querySelector('figcaption').textContent)")
        page.wait_for_function("""() => app.graph.nodes.filter(node => node.type === "SaveImage")
            .every(node => node.imgs?.length && node.imgs.every(image => image.complete && image.naturalWidth > 0))""",
                               timeout=30_000)  # the decoded digits in the screenshot
        page.locator(".noise-search-panel").first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot))
        thumbnails.first.click()
        page.locator(".noise-search-overlay img").wait_for()
        page.locator(".noise-search-overlay").click()
        browser.close()
    print(f"\nscreenshot: {screenshot}")
    assert len(scores) == CANDIDATES
    assert scores == sorted(scores, reverse=True)
    assert winners == 1
    assert all("·" in caption for caption in captions)
    errors = [error for error in console_errors
              if EXTENSION_URL in error or not any(noise in error for noise in FRONT_END_NOISE)]
    (tmp_path / "console_errors.txt").write_text("\n\n".join(errors))
    assert errors == [], "\n".join(errors)
