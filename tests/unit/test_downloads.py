import io

import pytest

from verifiers.downloads import KNOWN_SOURCES, OPEN_CLIP, WeightSource, fetch


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes, announce_length: bool = True):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))} if announce_length else {}


def test_fetch_writes_every_file_and_reports_progress(tmp_path):
    payloads = {"https://example.invalid/a.json": b"{}", "https://example.invalid/b.bin": b"x" * 3_000_000}
    source = WeightSource(OPEN_CLIP, (("folder/a.json", "https://example.invalid/a.json"),
                           ("folder/b.bin", "https://example.invalid/b.bin")))
    progress = []
    fetch(source, tmp_path, lambda done, total: progress.append((done, total)),
          opener=lambda url: FakeResponse(payloads[url]))
    assert (tmp_path / "folder" / "b.bin").read_bytes() == payloads["https://example.invalid/b.bin"]
    assert (tmp_path / "folder" / "a.json").read_bytes() == b"{}"
    assert progress[-1] == (3_000_000, 3_000_000) and len(progress) >= 3
    assert not list(tmp_path.rglob("*.part"))


def test_a_broken_download_leaves_no_file_that_looks_whole(tmp_path):
    class Broken(FakeResponse):
        def read(self, size=-1):
            raise ConnectionError("reset")

    source = WeightSource(OPEN_CLIP, (("weights.pth", "https://example.invalid/w"),))
    with pytest.raises(ConnectionError):
        fetch(source, tmp_path, lambda done, total: None, opener=lambda url: Broken(b""))
    assert not (tmp_path / "weights.pth").exists()


def test_files_already_there_are_not_fetched_again(tmp_path):
    (tmp_path / "weights.pth").write_bytes(b"mine")
    fetch(WeightSource(OPEN_CLIP, (("weights.pth", "https://example.invalid/w"),)), tmp_path, lambda d, t: None,
          opener=lambda url: pytest.fail("should not download"))
    assert (tmp_path / "weights.pth").read_bytes() == b"mine"


def test_known_sources_name_their_files_under_the_name_the_loader_shows():
    for name, source in KNOWN_SOURCES.items():
        assert all(path == name or path.startswith(name + "/") for path, _ in source.files)
        assert all(url.startswith("https://") for _, url in source.files)
