"""Known verifier weights: where each file comes from (a pinned revision), its size, sha256 and licence;
finding them in the local Hugging Face cache; and the opt-in download that checks them.

Nothing downloads unless the user turns ``download`` on in a loader node. A file arrives as
``<name>.part``; only when its size and sha256 are the known ones is it renamed into place, so a
download that stalls, is cancelled, is cut short or sends other bytes leaves no file that looks whole.
A source of several files counts as present only when all of them are there at their known sizes.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import VerifierWeightsMissing

CHUNK_BYTES = 1 << 20
STALL_SECONDS = 60.0
"""A download that receives nothing for this long fails (it also bounds each connect and read)."""
POLL_SECONDS = 0.1
"""How often the download loop looks for a cancel while it waits for data."""
USER_AGENT = "comfyui-noise-search"

Progress = Callable[[int, int], None]
"""Called with (bytes received so far, bytes to receive) for the whole source."""
CancelCheck = Callable[[], None]
"""Called between reads; raises to stop the download (ComfyUI's interrupt, passed in by the nodes)."""


OPEN_CLIP, AESTHETIC_HEAD = "open_clip", "aesthetic head"
IMAGE_REWARD, BERT_TOKENIZER = "ImageReward", "BERT tokenizer"
DINOV2_BACKBONE, DINOV2_HEAD = "DINOv2 backbone", "DINOv2 linear head"
PICK_SCORE, CLIP_PROCESSOR, HPS_V2 = "PickScore", "CLIP processor", "HPSv2"
HPS_V3, HPS_V3_BASE = "HPSv3", "HPSv3 base model files"


class DownloadFailed(Exception):
    """A download did not produce the known file (stalled, cut short, other bytes); nothing was put in place."""


class IncompleteWeights(VerifierWeightsMissing):
    """Some files of a known source are missing or not their known size (e.g. a download was cancelled)."""

    def __init__(self, name: str, root: Path, problems: list[str], fix: str) -> None:
        Exception.__init__(self, f"verifier weights '{name}' in {root} are incomplete: {'; '.join(problems)}. {fix}")
        self.name = name
        self.expected_dir = root


@dataclass(frozen=True)
class KnownFile:
    """One file of a source: where it goes and, when the pack may download it, where from and what it must be."""

    path: str
    """Relative to the verifiers folder."""
    url: str
    """Where it comes from; for a file the pack downloads, at a pinned revision (a commit)."""
    size: int | None
    sha256: str | None
    """None (with size None): no published checksum was found for it, so the pack never downloads it."""

    @property
    def verifiable(self) -> bool:
        return self.size is not None and self.sha256 is not None


@dataclass(frozen=True)
class WrittenFile:
    """A small file the pack writes itself instead of downloading it (e.g. an open_clip folder's config)."""

    path: str
    content: Callable[[], bytes]
    origin: str
    """Where its content comes from, for the log."""


@dataclass(frozen=True)
class WeightSource:
    """Where a name in models/verifiers comes from: its files (a folder's files, or one file) and their licence."""

    kind: str
    """What the files are (``OPEN_CLIP``, ``AESTHETIC_HEAD``, ``IMAGE_REWARD``, ``BERT_TOKENIZER``, ``DINOV2_*``),
    so each loader offers only its own kind."""
    licence: str
    files: tuple[KnownFile, ...]
    origin: str
    """The repository and revision the files come from, for the log and the errors."""
    hub_repo: str | None = None
    """The Hugging Face repository the files also live in, whose local cache is searched before downloading."""
    revision: str | None = None
    written: tuple[WrittenFile, ...] = ()

    @property
    def downloadable(self) -> bool:
        return all(file.verifiable for file in self.files)

    @property
    def single_file(self) -> bool:
        """One file directly in the verifiers folder (else a folder of files)."""
        return len(self.files) == 1 and not self.written and "/" not in self.files[0].path

    def problems(self, root: Path) -> list[str]:
        """What keeps the source under ``root`` from being complete: missing files and files of another size."""
        found = []
        for path, size in [(file.path, file.size) for file in self.files] + [(file.path, None) for file in self.written]:
            target = root / path
            if not target.is_file():
                found.append(f"{path} is missing")
            elif size is not None and target.stat().st_size != size:
                found.append(f"{path} is {target.stat().st_size:,} bytes, the known file {size:,}")
        return found


HF = "https://huggingface.co"


def hub_file(repo: str, revision: str, folder: str, name: str, size: int | None, sha256: str | None) -> KnownFile:
    return KnownFile(f"{folder}/{name}", f"{HF}/{repo}/resolve/{revision}/{name}", size, sha256)


def hub_folder(kind: str, repo: str, revision: str, licence: str, *files: tuple[str, int | None, str | None],
               folder: str | None = None) -> WeightSource:
    """Files (name, size, sha256) of a Hugging Face repository at a commit, as a folder named after it."""
    folder = folder or repo.split("/")[-1]
    return WeightSource(kind, licence, tuple(hub_file(repo, revision, folder, *file) for file in files),
                        f"Hugging Face {repo} at {revision}", repo, revision)


def hub_single_file(kind: str, repo: str, revision: str, licence: str, file: tuple[str, int | None, str | None]
                    ) -> WeightSource:
    """One file (name, size, sha256) of a Hugging Face repository at a commit, under its own name."""
    name, size, sha256 = file
    return WeightSource(kind, licence, (KnownFile(name, f"{HF}/{repo}/resolve/{revision}/{name}", size, sha256),),
                        f"Hugging Face {repo} at {revision}", repo, revision)


def hub_open_clip(repo: str, revision: str, licence: str, weights: tuple[str, int, str], architecture: str,
                  pretrained: str) -> WeightSource:
    """An open_clip model repository's weights at a commit, as a folder named after the repository.

    Its ``open_clip_config.json`` is written from open_clip's own config for (architecture, pretrained tag),
    the config open_clip itself builds these weights with: no published checksum pins the repository's copy.
    """
    from .open_clip_loading import CONFIG_FILENAME, builtin_folder_config

    folder = repo.split("/")[-1]
    config = WrittenFile(f"{folder}/{CONFIG_FILENAME}", lambda: builtin_folder_config(architecture, pretrained),
                         f"open_clip's built-in {architecture} config and its '{pretrained}' preprocessing")
    return WeightSource(OPEN_CLIP, licence, (hub_file(repo, revision, folder, *weights),),
                        f"Hugging Face {repo} at {revision}", repo, revision, (config,))


def hub_cache_path(source: WeightSource) -> Path | None:
    """The source in the local Hugging Face cache, if it is there: the snapshot folder holding all its files
    (the cached file itself for a single-file source).

    The pinned revision is looked for first, then the cache's main; a file counts only at its known size.
    """
    if source.hub_repo is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    wanted = [(Path(file.path).name, file.size) for file in source.files] + \
        [(Path(file.path).name, None) for file in source.written]
    for revision in dict.fromkeys((source.revision, None)):
        found = [try_to_load_from_cache(source.hub_repo, name, revision=revision) for name, _ in wanted]
        if not all(isinstance(path, str) for path in found):
            continue
        if any(size is not None and os.path.getsize(path) != size for path, (_, size) in zip(found, wanted)):
            continue
        if source.single_file:
            return Path(found[0])
        folders = {Path(path).parent for path in found}
        if len(folders) == 1:
            return folders.pop()
    return None


KNOWN_SOURCES: dict[str, WeightSource] = {
    "CLIP-ViT-L-14-laion2B-s32B-b82K": hub_open_clip(
        "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", "1627032197142fbe2a7cfec626f4ced3ae60d07a", "MIT",
        ("open_clip_pytorch_model.safetensors", 1_710_517_748,
         "7d129ed747e0ed53e82dfcc140382b51be66b56e6a9bdc3258afd2846e3bb019"),
        "ViT-L-14", "laion2b_s32b_b82k",
    ),
    "CLIP-ViT-B-32-laion2B-s34B-b79K": hub_open_clip(
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "1a25a446712ba5ee05982a381eed697ef9b435cf", "MIT",
        ("open_clip_model.safetensors", 605_143_316, "ac4f8c4b88af6d963118cbf40ad93176d092abbedfcb752601ae1866352656e6"),
        "ViT-B-32", "laion2b_s34b_b79k",
    ),
    "sac+logos+ava1-l14-linearMSE.pth": WeightSource(
        AESTHETIC_HEAD, "Apache-2.0",
        (KnownFile("sac+logos+ava1-l14-linearMSE.pth",
                   "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/"
                   "6934dd81792f086e613a121dbce43082cb8be85e/sac%2Blogos%2Bava1-l14-linearMSE.pth",
                   3_714_759, "21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0"),),
        "GitHub christophschuhmann/improved-aesthetic-predictor at 6934dd81792f086e613a121dbce43082cb8be85e",
    ),
    "ImageReward": hub_folder(  # no published checksum found for either file: found locally, never downloaded
        IMAGE_REWARD, "THUDM/ImageReward", "main", "Apache-2.0",
        ("ImageReward.pt", None, None), ("med_config.json", None, None),
    ),
    "bert-base-uncased": hub_folder(
        BERT_TOKENIZER, "google-bert/bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594", "Apache-2.0",
        ("vocab.txt", 231_508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
        ("tokenizer_config.json", 48, "a025160ef0431f1a392f6f050c1310f4c5d9fb6f275932dbccba73c4d214bf10"),
    ),
    "dinov2-base": hub_folder(
        DINOV2_BACKBONE, "facebook/dinov2-base", "f9e44c814b77203eaa57a6bdbbd535f21ede1415", "Apache-2.0",
        ("config.json", 548, "f7ff4cfa73d2f70647dbf6950541ad25d73082d54c2e7e9bded160c7656b2a70"),
        ("model.safetensors", 346_345_912, "d73036b56966966d07975d696bde331762f37297e2f095de8cea0040c3aa0841"),
    ),
    "dinov2_vitb14_linear_head.pth": WeightSource(  # no published checksum found: found locally, never downloaded
        DINOV2_HEAD, "Apache-2.0",
        (KnownFile("dinov2_vitb14_linear_head.pth",
                   "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_linear_head.pth", None, None),),
        "facebookresearch/dinov2's released linear heads",
    ),
    # No published checksum found for these: known (found locally or in the Hugging Face cache), never downloaded.
    "PickScore_v1": hub_folder(PICK_SCORE, "yuvalkirstain/PickScore_v1", "main", "MIT",
                               ("config.json", None, None), ("model.safetensors", None, None)),
    "CLIP-ViT-H-14-laion2B-s32B-b79K": hub_folder(
        CLIP_PROCESSOR, "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "main", "MIT",
        *((name, None, None) for name in ("preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                                          "special_tokens_map.json", "vocab.json", "merges.txt")),
    ),
    "HPSv2.1": hub_folder(HPS_V2, "xswu/HPSv2", "main", "Apache-2.0", ("HPS_v2.1_compressed.pt", None, None),
                          folder="HPSv2.1"),
}

VLM_JUDGE = "VLM judge"
VLM_JUDGE_FILES = ("config.json", "chat_template.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json")
"""What the VLM judge reads from a Qwen2.5-VL / Qwen3-VL repository besides the weights (no generation
config, video processor config or vocab.json/merges.txt: tokenizer.json holds the vocabulary)."""


def hub_vlm(repo: str, licence: str, weights: tuple[str, ...]) -> WeightSource:
    """A vision-language model repository's files the judge needs, as a folder named after the repository.

    No published checksum or commit was found for these repositories' files, so they are found locally
    (models/verifiers or the Hugging Face cache) and never downloaded.
    """
    return hub_folder(VLM_JUDGE, repo, "main", licence, *((name, None, None) for name in (*VLM_JUDGE_FILES, *weights)))


def safetensors_shards(count: int) -> tuple[str, ...]:
    return ("model.safetensors.index.json", *(f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)))


KNOWN_SOURCES.update({
    "Qwen3-VL-2B-Instruct": hub_vlm("Qwen/Qwen3-VL-2B-Instruct", "Apache-2.0", ("model.safetensors",)),
    "Qwen3-VL-4B-Instruct": hub_vlm("Qwen/Qwen3-VL-4B-Instruct", "Apache-2.0", safetensors_shards(2)),
    "Qwen3-VL-8B-Instruct": hub_vlm("Qwen/Qwen3-VL-8B-Instruct", "Apache-2.0", safetensors_shards(4)),
    "Qwen2.5-VL-3B-Instruct": hub_vlm("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen Research License", safetensors_shards(2)),
    "Qwen2.5-VL-7B-Instruct": hub_vlm("Qwen/Qwen2.5-VL-7B-Instruct", "Apache-2.0", safetensors_shards(5)),
    # HPSv3 reads every weight from its checkpoint; of its base model only the config and processor files.
    # No published checksum found for these: known (found locally or in the Hugging Face cache), never downloaded.
    "HPSv3": hub_folder(HPS_V3, "MizzenAI/HPSv3", "main", "MIT", ("HPSv3.safetensors", None, None)),
    "Qwen2-VL-7B-Instruct": hub_folder(HPS_V3_BASE, "Qwen/Qwen2-VL-7B-Instruct", "main", "Apache-2.0",
                                       *((name, None, None) for name in VLM_JUDGE_FILES)),
})


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} bytes"


def describe_download(name: str, source: WeightSource, root: Path) -> str:
    """What a download of ``source`` into ``root`` will fetch and write: files, sizes, licence, origin."""
    fetched = [file for file in source.files if not (root / file.path).is_file()]
    written = [file for file in source.written if not (root / file.path).is_file()]
    parts = [f"{file.path} ({human_size(file.size or 0)}, from {file.url})" for file in fetched]
    parts += [f"{file.path} (written from {file.origin})" for file in written]
    total = sum(file.size or 0 for file in fetched)
    return (f"downloading '{name}' into {root}: {human_size(total)} in all, licence {source.licence}, "
            f"from {source.origin}: {'; '.join(parts) or 'nothing left to fetch'}")


_receiving: set[Path] = set()
_receiving_lock = threading.Lock()


def remove_stale_parts(source: WeightSource, root: Path) -> list[Path]:
    """Delete ``.part`` files a cancelled or failed download of ``source`` left under ``root``."""
    removed = []
    for file in source.files:
        partial = part_path(root / file.path)
        with _receiving_lock:
            if partial in _receiving or not partial.is_file():
                continue
            partial.unlink()
        removed.append(partial)
    return removed


def part_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


def fetch(source: WeightSource, root: Path, progress: Progress, cancel_check: CancelCheck,
          stall_seconds: float = STALL_SECONDS) -> None:
    """Download the files of ``source`` that are missing under ``root``, checking each, then write its own files.

    Files already there must be their known size (else DownloadFailed, and the file is left as it is).
    """
    if not source.downloadable:
        raise DownloadFailed(f"the pack has no published checksum for {source.origin}, so it does not download it")
    remove_stale_parts(source, root)
    missing = []
    for file in source.files:
        destination = root / file.path
        if not destination.exists():
            missing.append(file)
        elif destination.stat().st_size != file.size:
            raise DownloadFailed(
                f"{destination} is {destination.stat().st_size:,} bytes, the known file {file.size:,} "
                f"({file.url}): delete it to download it again")
    total = sum(file.size or 0 for file in missing)
    done = 0
    for file in missing:
        done += receive(file, root / file.path, lambda n, before=done: progress(before + n, total), cancel_check,
                        stall_seconds)
    for written in source.written:
        destination = root / written.path
        if not destination.exists():
            partial = part_path(destination)
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(written.content())
            os.replace(partial, destination)


def receive(file: KnownFile, destination: Path, progress: Callable[[int], None], cancel_check: CancelCheck,
            stall_seconds: float) -> int:
    """Stream one file into ``<destination>.part``, check its size and sha256, then rename it into place.

    The network is read on a helper thread, so a cancel is seen within POLL_SECONDS even while a read
    blocks, and a download that receives nothing for ``stall_seconds`` ends with an error naming the file.
    """
    assert file.size is not None and file.sha256 is not None
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = part_path(destination)
    chunks: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()
    reader = threading.Thread(target=read_into, args=(file.url, stall_seconds, chunks, stop), daemon=True,
                              name=f"noise-search download {destination.name}")
    with _receiving_lock:
        _receiving.add(partial)
    reader.start()
    digest, received, last_data = hashlib.sha256(), 0, time.monotonic()
    try:
        with partial.open("wb") as sink:
            while True:
                cancel_check()
                try:
                    item = chunks.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    if time.monotonic() - last_data > stall_seconds:
                        raise stalled(file, destination, stall_seconds) from None
                    continue
                last_data = time.monotonic()
                if isinstance(item, TimeoutError):
                    raise stalled(file, destination, stall_seconds) from item
                if isinstance(item, Exception):
                    raise DownloadFailed(f"downloading {destination.name} from {file.url} failed: {item}") from item
                if isinstance(item, int):
                    if item and item != file.size:
                        raise DownloadFailed(f"{file.url} announces {item:,} bytes for {destination.name}, "
                                             f"expected {file.size:,}: not the known file")
                    continue
                if not item:
                    break
                received += len(item)
                if received > file.size:
                    raise DownloadFailed(f"{file.url} sent more than the {file.size:,} bytes of {destination.name}")
                digest.update(item)
                sink.write(item)
                progress(received)
        if received != file.size:
            raise DownloadFailed(f"{file.url} closed after {received:,} of the {file.size:,} bytes of "
                                 f"{destination.name}; nothing was saved, run again to retry")
        if digest.hexdigest() != file.sha256:
            raise DownloadFailed(f"{destination.name} from {file.url} has sha256 {digest.hexdigest()}, "
                                 f"expected {file.sha256}: not the known file, nothing was saved")
        os.replace(partial, destination)
        return received
    finally:
        stop.set()
        with _receiving_lock:
            _receiving.discard(partial)
            partial.unlink(missing_ok=True)


def stalled(file: KnownFile, destination: Path, stall_seconds: float) -> DownloadFailed:
    return DownloadFailed(f"downloading {destination.name} from {file.url} stalled: nothing arrived for "
                          f"{stall_seconds:g} s; nothing was saved, run again to retry")


def read_into(url: str, timeout: float, chunks: queue.Queue, stop: threading.Event) -> None:
    """Open ``url`` and put into ``chunks``: its announced length (int, 0 if none), the data, b"" at the end,
    or the exception that ended it. Gives up as soon as ``stop`` is set."""

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if not put(int(response.headers.get("Content-Length") or 0)):
                return
            while not stop.is_set():
                chunk = response.read1(CHUNK_BYTES)
                if not put(chunk) or not chunk:
                    return
    except Exception as error:  # handed to the downloading thread, which reports it
        put(error)
