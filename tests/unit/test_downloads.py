"""Downloads against a local HTTP server on 127.0.0.1 that serves, stalls, closes early or sends other bytes;
and open_clip's hub-named tokenizers and text configs, which never reach the network while download is off."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from headless.tiny_models import TINY_BERT_VOCAB, TINY_OPEN_CLIP_CONFIG, write_tiny_open_clip
from verifiers import VerifierConfigError, load_clip_score_verifier
from verifiers.downloads import (
    KNOWN_SOURCES,
    OPEN_CLIP,
    DownloadFailed,
    KnownFile,
    WeightSource,
    describe_download,
    fetch,
    hub_cache_path,
    hub_open_clip,
    hub_single_file,
    remove_stale_parts,
)
from verifiers.open_clip_loading import hub_sources

PAYLOAD = bytes(range(256)) * 12_000  # 3 MB: several chunks


@dataclass
class Route:
    payload: bytes
    send: int | None = None
    """Bytes to send before closing (None: all), with the full length announced."""
    stall: bool = False
    """After sending, hold the connection open without sending anything until the test ends."""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        route: Route = self.server.routes[self.path]
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(route.payload)))
        self.end_headers()
        self.wfile.write(route.payload[: route.send])
        self.wfile.flush()
        if route.stall:
            self.server.release.wait(30)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes, httpd.requests, httpd.release = {}, [], threading.Event()
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_port}{path}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()


def known(server, path: str, route: Route, expected: bytes | None = None, relative: str | None = None) -> KnownFile:
    """Serve ``route`` at ``path``; the known file is ``expected`` (the route's payload unless told)."""
    server.routes[path] = route
    expected = route.payload if expected is None else expected
    return KnownFile(relative or path.strip("/"), server.url(path), len(expected), hashlib.sha256(expected).hexdigest())


def source_of(*files: KnownFile) -> WeightSource:
    return WeightSource(OPEN_CLIP, "test licence", files, "a test server")


def never_cancelled() -> None:
    return None


def test_every_file_arrives_checked_with_progress_over_the_whole_source(server, tmp_path):
    small = known(server, "/a.json", Route(b"{}"), relative="folder/a.json")
    large = known(server, "/b.bin", Route(PAYLOAD), relative="folder/b.bin")
    progress = []
    fetch(source_of(small, large), tmp_path, lambda done, total: progress.append((done, total)), never_cancelled)
    assert (tmp_path / "folder" / "a.json").read_bytes() == b"{}"
    assert (tmp_path / "folder" / "b.bin").read_bytes() == PAYLOAD
    assert progress[-1] == (len(PAYLOAD) + 2, len(PAYLOAD) + 2) and len(progress) >= 2
    assert not list(tmp_path.rglob("*.part"))


def test_a_server_closing_early_leaves_no_file_and_says_how_much_arrived(server, tmp_path):
    file = known(server, "/w.bin", Route(PAYLOAD, send=1024))
    with pytest.raises(DownloadFailed, match=rf"closed after 1,024 of the {len(PAYLOAD):,} bytes of w.bin") as failed:
        fetch(source_of(file), tmp_path, lambda d, t: None, never_cancelled)
    assert server.url("/w.bin") in str(failed.value)
    assert list(tmp_path.iterdir()) == []


def test_other_bytes_are_refused_naming_the_expected_and_received_sha256(server, tmp_path):
    other = bytes(reversed(PAYLOAD))
    file = known(server, "/w.bin", Route(other), expected=PAYLOAD)
    with pytest.raises(DownloadFailed) as failed:
        fetch(source_of(file), tmp_path, lambda d, t: None, never_cancelled)
    message = str(failed.value)
    assert "w.bin" in message and hashlib.sha256(other).hexdigest() in message and file.sha256 in message
    assert list(tmp_path.iterdir()) == []


def test_a_stalled_download_ends_by_timeout_naming_the_file_and_url(server, tmp_path):
    file = known(server, "/w.bin", Route(PAYLOAD, send=4096, stall=True))
    start = time.monotonic()
    with pytest.raises(DownloadFailed, match="stalled") as failed:
        fetch(source_of(file), tmp_path, lambda d, t: None, never_cancelled, stall_seconds=0.5)
    assert time.monotonic() - start < 5
    assert "w.bin" in str(failed.value) and server.url("/w.bin") in str(failed.value)
    assert list(tmp_path.iterdir()) == []


class Cancelled(Exception):
    pass


def test_a_cancel_stops_a_stalled_download_at_once(server, tmp_path):
    """ComfyUI's interrupt raises from the cancel check; it is seen while a read blocks, long before any timeout."""
    file = known(server, "/w.bin", Route(PAYLOAD, send=4096, stall=True))
    pressed = threading.Event()

    def progress(done: int, total: int) -> None:  # data arrived, then the server went quiet: press cancel
        threading.Timer(0.3, pressed.set).start()

    def cancel_check() -> None:
        if pressed.is_set():
            raise Cancelled

    start = time.monotonic()
    with pytest.raises(Cancelled):
        fetch(source_of(file), tmp_path, progress, cancel_check, stall_seconds=30)
    assert time.monotonic() - start < 3
    assert list(tmp_path.iterdir()) == []


def test_files_already_there_at_their_known_size_are_not_fetched_again(server, tmp_path):
    file = known(server, "/w.bin", Route(PAYLOAD))
    (tmp_path / "w.bin").write_bytes(PAYLOAD)
    fetch(source_of(file), tmp_path, lambda d, t: None, never_cancelled)
    assert server.requests == []


def test_a_file_of_another_size_in_the_way_is_named_and_left_alone(server, tmp_path):
    file = known(server, "/w.bin", Route(PAYLOAD))
    (tmp_path / "w.bin").write_bytes(b"x" * 1024)  # what a server closing early left behind before the fix
    with pytest.raises(DownloadFailed, match=rf"w.bin is 1,024 bytes, the known file {len(PAYLOAD):,}"):
        fetch(source_of(file), tmp_path, lambda d, t: None, never_cancelled)
    assert (tmp_path / "w.bin").read_bytes() == b"x" * 1024 and server.requests == []


def test_stale_part_files_are_removed_and_the_next_run_completes_the_source(server, tmp_path):
    first = known(server, "/a.bin", Route(b"first"), relative="folder/a.bin")
    second = known(server, "/b.bin", Route(PAYLOAD), relative="folder/b.bin")
    source = source_of(first, second)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.bin").write_bytes(b"first")
    (tmp_path / "folder" / "b.bin.part").write_bytes(PAYLOAD[:100])  # a cancelled run's leftovers
    assert source.problems(tmp_path) == ["folder/b.bin is missing"]
    assert remove_stale_parts(source, tmp_path) == [tmp_path / "folder" / "b.bin.part"]
    fetch(source, tmp_path, lambda d, t: None, never_cancelled)
    assert source.problems(tmp_path) == [] and server.requests == ["/b.bin"]
    assert not list(tmp_path.rglob("*.part"))


def test_a_source_counts_as_present_only_when_all_its_files_are_at_their_known_sizes(tmp_path):
    source = source_of(KnownFile("f/a.bin", "https://example.invalid/a", 3, "0" * 64),
                       KnownFile("f/b.bin", "https://example.invalid/b", 4, "0" * 64))
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.bin").write_bytes(b"abc")
    assert source.problems(tmp_path) == ["f/b.bin is missing"]
    (tmp_path / "f" / "b.bin").write_bytes(b"ab")
    assert source.problems(tmp_path) == ["f/b.bin is 2 bytes, the known file 4"]
    (tmp_path / "f" / "b.bin").write_bytes(b"abcd")
    assert source.problems(tmp_path) == []


@pytest.fixture
def network_attempts(monkeypatch) -> list:
    """Every connection or name lookup attempted; each one fails."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("this test allows no network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_a_source_without_published_checksums_is_never_downloaded(tmp_path, network_attempts):
    for name in ("ImageReward", "dinov2_vitb14_linear_head.pth"):
        with pytest.raises(DownloadFailed, match="no published checksum"):
            fetch(KNOWN_SOURCES[name], tmp_path, lambda d, t: None, never_cancelled)
    assert network_attempts == [] and list(tmp_path.iterdir()) == []


def test_known_sources_are_pinned_sized_hashed_and_licensed():
    pinned = re.compile(r"^https://(huggingface\.co/[^/]+/[^/]+/resolve|github\.com/[^/]+/[^/]+/raw)/[0-9a-f]{40}/")
    for name, source in KNOWN_SOURCES.items():
        assert source.licence and source.origin
        for file in (*source.files, *source.written):
            assert file.path == name or file.path.startswith(name + "/")
        if source.downloadable:
            for file in source.files:
                assert pinned.match(file.url), file.url
                assert file.size > 0 and re.fullmatch("[0-9a-f]{64}", file.sha256)
    # Those whose checksums no public manifest, LFS pointer or download table gives: known, never downloaded.
    assert {name for name, source in KNOWN_SOURCES.items() if not source.downloadable} == {
        "ImageReward", "dinov2_vitb14_linear_head.pth", "Qwen3-VL-2B-Instruct", "Qwen3-VL-4B-Instruct",
        "Qwen3-VL-8B-Instruct", "Qwen2.5-VL-3B-Instruct", "Qwen2.5-VL-7B-Instruct", "PickScore_v1",
        "CLIP-ViT-H-14-laion2B-s32B-b79K", "HPSv2.1", "HPSv3", "Qwen2-VL-7B-Instruct"}


def test_open_clip_sources_get_the_config_open_clip_builds_their_weights_with():
    import open_clip

    for name, architecture, tag in (("CLIP-ViT-L-14-laion2B-s32B-b82K", "ViT-L-14", "laion2b_s32b_b82k"),
                                    ("CLIP-ViT-B-32-laion2B-s34B-b79K", "ViT-B-32", "laion2b_s34b_b79k")):
        source = KNOWN_SOURCES[name]
        registered = open_clip.get_pretrained_cfg(architecture, tag)
        assert registered["hf_hub"].rstrip("/") == source.hub_repo
        config = json.loads(source.written[0].content())
        assert config["model_cfg"] == open_clip.get_model_config(architecture)
        assert config["preprocess_cfg"]["mean"] == list(registered["mean"])
        assert config["preprocess_cfg"]["std"] == list(registered["std"])


def test_the_log_line_states_files_sizes_and_licence():
    line = describe_download("CLIP-ViT-L-14-laion2B-s32B-b82K", KNOWN_SOURCES["CLIP-ViT-L-14-laion2B-s32B-b82K"],
                             Path("/nonexistent/models/verifiers"))
    assert "licence MIT" in line and "1.71 GB" in line
    assert "open_clip_pytorch_model.safetensors" in line and "resolve/1627032197142fbe2a7cfec626f4ced3ae60d07a" in line
    assert "open_clip_config.json (written from open_clip's built-in ViT-L-14 config" in line


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def cached_snapshot(cache: Path, repo: str, revision: str = "0" * 40) -> Path:
    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(revision)
    return snapshot


def test_the_hub_cache_counts_only_when_its_files_have_their_known_sizes(hub_cache):
    snapshot = cached_snapshot(hub_cache, "noise-search/tiny-clip")
    write_tiny_open_clip(snapshot)
    weights = snapshot / "open_clip_model.safetensors"
    source = hub_open_clip("noise-search/tiny-clip", "0" * 40, "MIT", ("open_clip_model.safetensors", weights.stat().st_size,
                           "0" * 64), "ViT-B-32", "laion2b_s34b_b79k")
    assert hub_cache_path(source) == snapshot
    weights.write_bytes(weights.read_bytes()[:1024])
    assert hub_cache_path(source) is None


def test_a_single_file_source_in_the_hub_cache_is_the_file_itself(hub_cache):
    head = cached_snapshot(hub_cache, "noise-search/tiny-head") / "head.pth"
    head.write_bytes(b"weights")
    source = hub_single_file("aesthetic head", "noise-search/tiny-head", "0" * 40, "MIT", ("head.pth", 7, "0" * 64))
    assert source.single_file and hub_cache_path(source) == head


def hub_architectures() -> dict[str, list[str]]:
    import open_clip

    found = {}
    for architecture in open_clip.list_models():
        text = open_clip.get_model_config(architecture).get("text_cfg", {})
        repos = [repo for repo in (text.get("hf_tokenizer_name"), text.get("hf_model_name")) if repo]
        if repos:
            found[architecture] = repos
    return found


def test_every_builtin_architecture_naming_a_hub_repository_is_refused_offline_before_any_network(
        tmp_path, hub_cache, network_attempts):
    architectures = hub_architectures()
    assert len(architectures) >= 49  # SigLIP, NLLB, MT5, XLM-R, RoBERTa... in open_clip 3.3
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(b"never read: the loader refuses first")
    for architecture, repos in architectures.items():
        with pytest.raises(VerifierConfigError) as refused:
            load_clip_score_verifier(weights, architecture)
        message = str(refused.value)
        assert f"from the Hugging Face repository '{repos[0]}'" in message, message
        assert str(tmp_path / repos[0]) in message and "turn on download" in message
    assert network_attempts == []


TINY_BERT_CONFIG = {"model_type": "bert", "vocab_size": len(TINY_BERT_VOCAB), "hidden_size": 32, "num_hidden_layers": 1,
                    "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 80}


def write_tiny_bert(folder: Path) -> Path:
    """A BERT tokenizer's files and a tiny BERT config, as in a Hugging Face repository."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(TINY_BERT_VOCAB) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True}))
    (folder / "config.json").write_text(json.dumps(TINY_BERT_CONFIG))
    return folder


def write_tiny_hub_clip(folder: Path, repo: str, text_model_from: Path | None) -> Path:
    """A tiny open_clip folder whose config names Hugging Face repository ``repo`` for its tokenizer, and for its
    text tower too when ``text_model_from`` (a local copy of that repository, to build the weights) is given."""
    import open_clip
    import safetensors.torch

    config = json.loads(json.dumps(TINY_OPEN_CLIP_CONFIG))
    if text_model_from is None:
        write_tiny_open_clip(folder)
        config["model_cfg"]["text_cfg"]["hf_tokenizer_name"] = repo
    else:
        folder.mkdir(parents=True)
        text_cfg = {"hf_model_name": repo, "hf_tokenizer_name": repo, "hf_pooler_type": "cls_pooler",
                    "hf_proj_type": "linear", "context_length": 77}
        config["model_cfg"]["text_cfg"] = text_cfg
        model = open_clip.CustomTextCLIP(embed_dim=32, vision_cfg=config["model_cfg"]["vision_cfg"],
                                         text_cfg={**text_cfg, "hf_model_name": str(text_model_from),
                                                   "hf_model_pretrained": False})
        safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                                    str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    return folder


def test_a_hub_named_tokenizer_is_read_from_a_folder_named_after_it_next_to_the_weights(
        tmp_path, hub_cache, network_attempts):
    clip = write_tiny_hub_clip(tmp_path / "verifiers" / "hub-tokenizer-clip", "noise-search/tiny-bert", None)
    with pytest.raises(VerifierConfigError, match="tokenizer from the Hugging Face repository 'noise-search/tiny-bert'"):
        load_clip_score_verifier(clip)
    write_tiny_bert(tmp_path / "verifiers" / "noise-search" / "tiny-bert")
    verifier = load_clip_score_verifier(clip)
    assert verifier.score(torch.rand(2, 32, 32, 3), "a red apple").shape == (2,)
    assert network_attempts == []


def test_the_hub_cache_serves_a_hub_named_tokenizer_and_text_model_config_offline(tmp_path, hub_cache, network_attempts):
    local_copy = write_tiny_bert(tmp_path / "tiny-bert-source")
    clip = write_tiny_hub_clip(tmp_path / "verifiers" / "hub-text-clip", "noise-search/tiny-bert", local_copy)
    with pytest.raises(VerifierConfigError, match="tokenizer and text-model config from the Hugging Face repository"):
        load_clip_score_verifier(clip)
    write_tiny_bert(cached_snapshot(hub_cache, "noise-search/tiny-bert"))
    verifier = load_clip_score_verifier(clip)
    assert verifier.score(torch.rand(2, 32, 32, 3), "a red apple").shape == (2,)
    assert network_attempts == []


def test_with_download_on_open_clip_may_fetch_what_is_not_on_this_machine(tmp_path, hub_cache):
    assert hub_sources({"noise-search/absent": ["tokenizer"]}, tmp_path, True, "x") == {
        "noise-search/absent": "noise-search/absent"}
    with pytest.raises(VerifierConfigError, match="download is off"):
        hub_sources({"noise-search/absent": ["tokenizer"]}, tmp_path, False, "x")
