"""What the loader nodes that read open_clip weights from models/verifiers share: inputs and execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from comfy_api.latest import io

from ..verifiers import Verifier
from ..verifiers.downloads import OPEN_CLIP
from ..verifiers.open_clip_loading import AUTO_ARCHITECTURE, builtin_architectures
from .node_errors import reported_as
from .verifier_cache import cached_verifier
from .weights import ensure_weights, weight_options

HOW_TO_GET = (
    "Use an open_clip checkpoint: a folder with open_clip_config.json and open_clip_model.safetensors "
    "(as in open_clip's model repositories, e.g. laion/CLIP-ViT-L-14-laion2B-s32B-b82K), or a single "
    "checkpoint file of a built-in open_clip architecture."
)


def open_clip_inputs(weights_tooltip: str) -> list[io.Input]:
    return [
        io.Combo.Input("weights", options=weight_options(OPEN_CLIP), tooltip=weights_tooltip),
        io.Combo.Input(
            "architecture", options=[AUTO_ARCHITECTURE, *builtin_architectures()], default=AUTO_ARCHITECTURE,
            tooltip="The open_clip architecture of a single checkpoint file. 'auto' reads it from a folder's "
            "open_clip_config.json, or from the file name.",
        ),
        download_input(),
    ]


def download_input() -> io.Boolean.Input:
    return io.Boolean.Input(
        "download", default=False,
        tooltip="When the chosen weights are missing and the pack knows where they come from, download them into "
        "models/verifiers at a pinned revision, checking each file's size and sha256 (the log states the files, "
        "sizes and licence first; cancel stops it). On, open_clip may also fetch a tokenizer or text config its "
        "architecture names from the Hugging Face hub. Off: nothing is fetched; a missing file is an error saying "
        "where to put it.",
    )


def open_clip_verifier_output(
    display_name: str, kind: str, weights: str, download: bool, settings: tuple[Any, ...],
    build: Callable[[Path], Verifier],
) -> io.NodeOutput:
    """A loader's output: the weights found (or downloaded), the verifier built once, errors named as the node."""
    with reported_as(display_name):
        path = ensure_weights(weights, download, HOW_TO_GET)
        return io.NodeOutput(cached_verifier(kind, [path], settings, lambda: build(path)))
