"""Inputs and checks shared by the loader nodes that read open_clip weights from models/verifiers."""

from __future__ import annotations

from comfy_api.latest import io

from ..verifiers import VerifierWeightsMissing
from ..verifiers.open_clip_loading import AUTO_ARCHITECTURE, builtin_architectures
from .models_folder import list_verifier_weights, resolve_verifier_weights

HOW_TO_GET = (
    "Use an open_clip checkpoint: a folder with open_clip_config.json and open_clip_model.safetensors "
    "(as in open_clip's model repositories, e.g. laion/CLIP-ViT-L-14-laion2B-s32B-b82K), or a single "
    "checkpoint file of a built-in open_clip architecture."
)


def open_clip_inputs(weights_tooltip: str) -> list[io.Input]:
    return [
        io.Combo.Input("weights", options=list_verifier_weights(), tooltip=weights_tooltip),
        io.Combo.Input(
            "architecture", options=[AUTO_ARCHITECTURE, *builtin_architectures()], default=AUTO_ARCHITECTURE,
            tooltip="The open_clip architecture of a single checkpoint file. 'auto' reads it from a folder's "
            "open_clip_config.json, or from the file name.",
        ),
    ]


def missing_weights_message(display_name: str, weights: str, how_to_get: str = HOW_TO_GET) -> bool | str:
    """True when the weights are there; else the message ComfyUI shows at validation, before anything runs."""
    try:
        resolve_verifier_weights(weights, how_to_get)
    except VerifierWeightsMissing as missing:
        return f"{display_name}: {missing}"
    return True
