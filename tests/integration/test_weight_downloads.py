"""The opt-in download through ComfyUI's loader nodes, against a local HTTP server on 127.0.0.1 (nothing leaves
the machine): checked files, a server closing early, a cancel halfway and the run after it, the log, and
open_clip's hub-named tokenizers refused while download is off."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed

NAME = "tiny-clip-from-the-network"
FILES = ("open_clip_config.json", "open_clip_model.safetensors")  # in download order
LOADER = "Load CLIP Score Verifier (Noise Search)"


def downloads_module():
    return next(m for name, m in sys.modules.items() if name.endswith(".verifiers.downloads"))


class Handler(BaseHTTPRequestHandler):
    """Serves the tiny model's files; ``server.behaviour`` can cut the weights short or interrupt mid-file."""

    def do_GET(self) -> None:
        data = (self.server.folder / self.path.strip("/")).read_bytes()
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        behaviour = self.server.behaviour if self.path.endswith(".safetensors") else "serve"
        self.wfile.write(data if behaviour == "serve" else data[: len(data) // 2])
        self.wfile.flush()
        if behaviour == "interrupt":  # the user presses cancel while the weights are half way
            import comfy.model_management

            comfy.model_management.interrupt_current_processing(True)
            self.server.release.wait(30)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def local_source(comfyui, tmp_path, monkeypatch):
    import folder_paths

    served = tiny_models.write_tiny_open_clip(tmp_path / "served")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.folder, server.requests, server.behaviour, server.release = served, [], "serve", threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    downloads = downloads_module()
    base = f"http://127.0.0.1:{server.server_port}"
    files = []
    for name in FILES:
        data = (served / name).read_bytes()
        files.append(downloads.KnownFile(f"{NAME}/{name}", f"{base}/{name}", len(data), hashlib.sha256(data).hexdigest()))
    source = downloads.WeightSource(downloads.OPEN_CLIP, "a test licence", tuple(files), "the test server")
    monkeypatch.setitem(downloads.KNOWN_SOURCES, NAME, source)
    server.target = Path(folder_paths.get_folder_paths("verifiers")[0]) / NAME
    yield server
    server.release.set()
    server.shutdown()
    shutil.rmtree(server.target, ignore_errors=True)


def workflow_with(comfyui, download: bool, weights: str = NAME) -> dict:
    prompt = comfyui.workflow()
    prompt["5"]["inputs"].update(weights=weights, download=download)
    prompt["6"]["inputs"]["num_candidates"] = 2
    return prompt


def test_without_download_a_known_missing_file_says_how_to_get_it(comfyui, local_source):
    with pytest.raises(WorkflowFailed, match="Or turn on download in the loader"):
        comfyui.run(workflow_with(comfyui, download=False))


def test_with_download_the_checked_weights_arrive_and_the_search_runs(comfyui, local_source):
    run = comfyui.run(workflow_with(comfyui, download=True))
    assert sorted(p.name for p in local_source.target.iterdir()) == sorted(FILES)
    assert len(json.loads(run.outputs("7")[3])["candidates"]) == 2


def test_the_log_states_files_sizes_and_licence_before_anything_is_fetched(comfyui, local_source):
    logged = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append((record.getMessage(), list(local_source.requests)))

    recorder = Recorder(logging.INFO)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.INFO)
    try:
        comfyui.run(workflow_with(comfyui, download=True))
    finally:
        root.removeHandler(recorder)
        root.setLevel(previous_level)
    message, requests_so_far = next((m, r) for m, r in logged if f"downloading '{NAME}'" in m)
    assert requests_so_far == []
    assert "licence a test licence" in message
    for name in FILES:
        size = (local_source.folder / name).stat().st_size
        assert f"{NAME}/{name} ({downloads_module().human_size(size)}" in message


def test_a_server_closing_early_fails_the_node_and_leaves_nothing_that_looks_whole(comfyui, local_source):
    local_source.behaviour = "short"
    size = (local_source.folder / FILES[1]).stat().st_size
    with pytest.raises(WorkflowFailed) as failed:
        comfyui.run(workflow_with(comfyui, download=True))
    message = failed.value.data["exception_message"]
    assert message.startswith(f"{LOADER}: ") and f"closed after {size // 2:,} of the {size:,} bytes" in message
    assert sorted(p.name for p in local_source.target.iterdir()) == [FILES[0]]  # no short weights, no .part
    local_source.behaviour = "serve"
    comfyui.run(workflow_with(comfyui, download=True))
    assert sorted(p.name for p in local_source.target.iterdir()) == sorted(FILES)


def test_a_cancel_halfway_stops_at_once_and_the_next_run_completes_the_folder(comfyui, local_source):
    local_source.behaviour = "interrupt"
    with pytest.raises(WorkflowFailed) as interrupted:
        comfyui.run(workflow_with(comfyui, download=True))
    assert interrupted.value.event == "execution_interrupted"
    assert sorted(p.name for p in local_source.target.iterdir()) == [FILES[0]]  # half a folder, no .part
    local_source.release.set()

    with pytest.raises(WorkflowFailed) as half:  # a half folder is not taken for the model
        comfyui.run(workflow_with(comfyui, download=False))
    assert f"{NAME}/{FILES[1]} is missing" in str(half.value) and "Turn on download" in str(half.value)

    local_source.behaviour = "serve"
    run = comfyui.run(workflow_with(comfyui, download=True))
    assert len(json.loads(run.outputs("7")[3])["candidates"]) == 2
    assert local_source.requests[-1] == f"/{FILES[1]}"  # only the missing file was fetched again


def test_weights_in_the_hugging_face_cache_are_used_without_downloading(comfyui, tmp_path, monkeypatch):
    import huggingface_hub.constants

    downloads = downloads_module()
    repo, revision = "noise-search/tiny-clip", "0123abc"
    snapshot = tmp_path / "hub" / "models--noise-search--tiny-clip" / "snapshots" / revision
    tiny_models.write_tiny_open_clip(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    name = "tiny-clip-in-the-hub-cache"  # not in models/verifiers; download stays off
    weights = ("open_clip_model.safetensors", (snapshot / "open_clip_model.safetensors").stat().st_size, "0" * 64)
    source = downloads.hub_open_clip(repo, revision, "MIT", weights, "ViT-B-32", "laion2b_s34b_b79k")
    monkeypatch.setitem(downloads.KNOWN_SOURCES, name, source)
    assert len(json.loads(comfyui.run(workflow_with(comfyui, False, name)).outputs("7")[3])["candidates"]) == 2


def test_a_hub_named_tokenizer_is_refused_offline_naming_the_node_and_the_folder(comfyui, tmp_path, monkeypatch):
    import folder_paths
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    verifiers = Path(folder_paths.get_folder_paths("verifiers")[0])
    folder = tiny_models.write_tiny_open_clip(verifiers / "tiny-clip-with-a-hub-tokenizer")
    config = json.loads((folder / "open_clip_config.json").read_text())
    config["model_cfg"]["text_cfg"]["hf_tokenizer_name"] = "noise-search/absent-tokenizer"
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("this test allows no network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    try:
        with pytest.raises(WorkflowFailed) as refused:
            comfyui.run(workflow_with(comfyui, False, folder.name))
    finally:
        shutil.rmtree(folder)
    message = refused.value.data["exception_message"]
    assert message.startswith(f"{LOADER}: ") and "'noise-search/absent-tokenizer'" in message
    assert str(verifiers / "noise-search" / "absent-tokenizer") in message
    assert attempts == []
