"""Loader node for the CLIP score verifier (open_clip weights from models/verifiers)."""

from __future__ import annotations

from comfy_api.latest import io

from ..verifiers import VerifierWeightsMissing, load_clip_score_verifier
from ..verifiers.open_clip_loading import AUTO_ARCHITECTURE, builtin_architectures
from .comfy_scoring import ManagedVerifier
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import list_verifier_weights, resolve_verifier_weights
from .node_errors import reported_as

DISPLAY_NAME = "Load CLIP Score Verifier (Noise Search)"
HOW_TO_GET = (
    "Use an open_clip checkpoint: a folder with open_clip_config.json and open_clip_model.safetensors "
    "(as in open_clip's model repositories, e.g. laion/CLIP-ViT-L-14-laion2B-s32B-b82K), or a single "
    "checkpoint file of a built-in open_clip architecture."
)


class LoadCLIPScoreVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchCLIPScoreVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores images by their CLIP similarity to a text prompt (100 × cosine).",
            inputs=[
                io.Combo.Input(
                    "weights", options=list_verifier_weights(),
                    tooltip="An open_clip checkpoint file, or a folder holding open_clip_config.json and "
                    "its weights, in models/verifiers.",
                ),
                io.Combo.Input(
                    "architecture", options=[AUTO_ARCHITECTURE, *builtin_architectures()], default=AUTO_ARCHITECTURE,
                    tooltip="The open_clip architecture of a single checkpoint file. 'auto' reads it from a "
                    "folder's open_clip_config.json, or from the file name.",
                ),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def validate_inputs(cls, weights: str, architecture: str) -> bool | str:
        try:
            resolve_verifier_weights(weights, HOW_TO_GET)
        except VerifierWeightsMissing as missing:
            return f"{DISPLAY_NAME}: {missing}"
        return True

    @classmethod
    def execute(cls, weights: str, architecture: str) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            path = resolve_verifier_weights(weights, HOW_TO_GET)
            return io.NodeOutput(ManagedVerifier(load_clip_score_verifier(path, architecture)))
