"""Loader node for the CLIP score verifier (open_clip weights from models/verifiers)."""

from __future__ import annotations

from comfy_api.latest import io

from ..verifiers import load_clip_score_verifier
from .comfy_types import CATEGORY, VerifierSocket
from .node_errors import reported_as
from .open_clip_inputs import HOW_TO_GET, open_clip_inputs
from .verifier_cache import cached_verifier
from .weights import ensure_weights, weights_problem

DISPLAY_NAME = "Load CLIP Score Verifier (Noise Search)"


class LoadCLIPScoreVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchCLIPScoreVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores images by their CLIP similarity to a text prompt (100 × cosine).",
            inputs=open_clip_inputs(
                "An open_clip checkpoint file, or a folder holding open_clip_config.json and its weights, "
                "in models/verifiers."
            ),
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def validate_inputs(cls, weights: str, architecture: str, download: bool) -> bool | str:
        return weights_problem(DISPLAY_NAME, weights, download, HOW_TO_GET)

    @classmethod
    def execute(cls, weights: str, architecture: str, download: bool) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            path = ensure_weights(weights, download, HOW_TO_GET)
            return io.NodeOutput(cached_verifier(
                "clip score", [path], (architecture,), lambda: load_clip_score_verifier(path, architecture)
            ))
