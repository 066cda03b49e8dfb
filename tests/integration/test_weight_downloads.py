"""The opt-in download, against a local HTTP server on 127.0.0.1 (nothing leaves the machine)."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed

NAME = "tiny-clip-from-the-network"


@pytest.fixture
def local_source(comfyui, tmp_path, monkeypatch):
    served = tiny_models.write_tiny_open_clip(tmp_path / "served")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    downloads = next(m for name, m in sys.modules.items() if name.endswith(".verifiers.downloads"))
    base = f"http://127.0.0.1:{server.server_port}"
    source = downloads.WeightSource(
        downloads.OPEN_CLIP, tuple((f"{NAME}/{file.name}", f"{base}/{file.name}") for file in served.iterdir()))
    monkeypatch.setitem(downloads.KNOWN_SOURCES, NAME, source)
    yield
    server.shutdown()


def workflow_with(comfyui, download: bool) -> dict:
    prompt = comfyui.workflow()
    prompt["5"]["inputs"].update(weights=NAME, download=download)
    prompt["6"]["inputs"]["num_candidates"] = 2
    return prompt


def test_without_download_a_known_missing_file_says_how_to_get_it(comfyui, local_source):
    with pytest.raises(WorkflowFailed, match="Or turn on download in the loader"):
        comfyui.run(workflow_with(comfyui, download=False))


def test_with_download_the_weights_arrive_and_the_search_runs(comfyui, local_source):
    import folder_paths

    run = comfyui.run(workflow_with(comfyui, download=True))
    folder = Path(folder_paths.get_folder_paths("verifiers")[0]) / NAME
    assert sorted(p.name for p in folder.iterdir()) == [
        "open_clip_config.json", "open_clip_model.safetensors"]
    assert len(json.loads(run.outputs("7")[3])["candidates"]) == 2


def test_weights_in_the_hugging_face_cache_are_used_without_downloading(comfyui, tmp_path, monkeypatch):
    import huggingface_hub.constants

    downloads = next(m for name, m in sys.modules.items() if name.endswith(".verifiers.downloads"))
    repo = "noise-search/tiny-clip"
    snapshot = tmp_path / "hub" / "models--noise-search--tiny-clip" / "snapshots" / "0123abc"
    tiny_models.write_tiny_open_clip(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abc")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    name = "tiny-clip-in-the-hub-cache"  # not in models/verifiers; download stays off
    monkeypatch.setitem(downloads.KNOWN_SOURCES, name, downloads.hub_open_clip(repo))
    prompt = comfyui.workflow()
    prompt["5"]["inputs"].update(weights=name, download=False)
    prompt["6"]["inputs"]["num_candidates"] = 2
    assert len(json.loads(comfyui.run(prompt).outputs("7")[3])["candidates"]) == 2
