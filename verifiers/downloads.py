"""Known verifier weights: found in the local Hugging Face cache, or downloaded (opt-in) with progress.

Nothing downloads unless the user turns ``download`` on in a loader node. Files land under a
temporary name and are renamed when complete, so an interrupted download never leaves a file that
looks whole.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CHUNK_BYTES = 1 << 20
Progress = Callable[[int, int], None]
"""Called with (bytes so far, total bytes of this file or 0 when the server does not say)."""


OPEN_CLIP, AESTHETIC_HEAD = "open_clip", "aesthetic head"
IMAGE_REWARD, BERT_TOKENIZER = "ImageReward", "BERT tokenizer"
DINOV2_BACKBONE, DINOV2_HEAD = "DINOv2 backbone", "DINOv2 linear head"


@dataclass(frozen=True)
class WeightSource:
    """Where a name in models/verifiers comes from: one or more files (a folder's files for open_clip)."""

    kind: str
    """What the files are (``OPEN_CLIP``, ``AESTHETIC_HEAD``, ``IMAGE_REWARD``, ``BERT_TOKENIZER``, ``DINOV2_*``),
    so each loader offers only its own kind."""
    files: tuple[tuple[str, str], ...]
    """(path relative to the verifiers folder, URL) pairs."""
    hub_repo: str | None = None
    """The Hugging Face repository the files also live in, whose local cache is searched before downloading."""


HF = "https://huggingface.co"
OPEN_CLIP_FILES = ("open_clip_config.json", "open_clip_model.safetensors")


def hub_open_clip(repo: str) -> WeightSource:
    """An open_clip model repository, as a folder named after the repository."""
    folder = repo.split("/")[-1]
    return WeightSource(
        OPEN_CLIP, tuple((f"{folder}/{name}", f"{HF}/{repo}/resolve/main/{name}") for name in OPEN_CLIP_FILES), repo
    )


def hub_folder(kind: str, repo: str, names: tuple[str, ...], folder: str) -> WeightSource:
    """Some files of a Hugging Face repository, as a folder named ``folder``."""
    return WeightSource(kind, tuple((f"{folder}/{name}", f"{HF}/{repo}/resolve/main/{name}") for name in names), repo)


def hub_cache_folder(source: WeightSource) -> Path | None:
    """The snapshot folder holding all of a source's files in the local Hugging Face cache, if one does."""
    if source.hub_repo is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = [try_to_load_from_cache(source.hub_repo, Path(relative).name) for relative, _ in source.files]
    if not all(isinstance(path, str) for path in found):
        return None
    folders = {Path(path).parent for path in found}
    return folders.pop() if len(folders) == 1 else None


KNOWN_SOURCES: dict[str, WeightSource] = {
    "CLIP-ViT-L-14-laion2B-s32B-b82K": hub_open_clip("laion/CLIP-ViT-L-14-laion2B-s32B-b82K"),
    "CLIP-ViT-B-32-laion2B-s34B-b79K": hub_open_clip("laion/CLIP-ViT-B-32-laion2B-s34B-b79K"),
    "sac+logos+ava1-l14-linearMSE.pth": WeightSource(AESTHETIC_HEAD, (
        ("sac+logos+ava1-l14-linearMSE.pth",
         "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac+logos+ava1-l14-linearMSE.pth"),
    )),
    "ImageReward": hub_folder(IMAGE_REWARD, "THUDM/ImageReward", ("ImageReward.pt", "med_config.json"), "ImageReward"),
    "bert-base-uncased": hub_folder(
        BERT_TOKENIZER, "google-bert/bert-base-uncased", ("vocab.txt", "tokenizer_config.json"), "bert-base-uncased"
    ),
    "dinov2-base": hub_folder(DINOV2_BACKBONE, "facebook/dinov2-base", ("config.json", "model.safetensors"), "dinov2-base"),
    "dinov2_vitb14_linear_head.pth": WeightSource(DINOV2_HEAD, (
        ("dinov2_vitb14_linear_head.pth",
         "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_linear_head.pth"),
    )),
}

VLM_JUDGE = "VLM judge"
VLM_JUDGE_FILES = ("config.json", "chat_template.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json")
"""What the VLM judge reads from a Qwen2.5-VL / Qwen3-VL repository besides the weights (no generation
config, video processor config or vocab.json/merges.txt: tokenizer.json holds the vocabulary)."""


def hub_vlm(repo: str, weights: tuple[str, ...]) -> WeightSource:
    """A vision-language model repository's files the judge needs, as a folder named after the repository."""
    return hub_folder(VLM_JUDGE, repo, (*VLM_JUDGE_FILES, *weights), repo.split("/")[-1])


def safetensors_shards(count: int) -> tuple[str, ...]:
    return ("model.safetensors.index.json", *(f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)))


KNOWN_SOURCES.update({
    "Qwen3-VL-2B-Instruct": hub_vlm("Qwen/Qwen3-VL-2B-Instruct", ("model.safetensors",)),
    "Qwen3-VL-4B-Instruct": hub_vlm("Qwen/Qwen3-VL-4B-Instruct", safetensors_shards(2)),
    "Qwen3-VL-8B-Instruct": hub_vlm("Qwen/Qwen3-VL-8B-Instruct", safetensors_shards(4)),
    "Qwen2.5-VL-3B-Instruct": hub_vlm("Qwen/Qwen2.5-VL-3B-Instruct", safetensors_shards(2)),
    "Qwen2.5-VL-7B-Instruct": hub_vlm("Qwen/Qwen2.5-VL-7B-Instruct", safetensors_shards(5)),
})


def fetch(source: WeightSource, root: Path, progress: Progress,
          opener: Callable[[str], object] = urllib.request.urlopen) -> None:
    """Download every file of ``source`` under ``root`` (skipping files already there)."""
    for relative, url in source.files:
        destination = root / relative
        if destination.is_file():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".part")
        with opener(url) as response, partial.open("wb") as sink:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(CHUNK_BYTES):
                sink.write(chunk)
                done += len(chunk)
                progress(done, total)
        os.replace(partial, destination)
