"""Loader node for the CLIP score verifier (open_clip weights from models/verifiers)."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..verifiers import load_clip_score_verifier
from .comfy_types import CATEGORY, VerifierSocket
from .open_clip_inputs import open_clip_inputs, open_clip_verifier_output
from .verifier_cache import weights_fingerprint

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
    def fingerprint_inputs(cls, weights: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights)

    @classmethod
    def execute(cls, weights: str, architecture: str, download: bool) -> io.NodeOutput:
        return open_clip_verifier_output(
            DISPLAY_NAME, "clip score", weights, download, (architecture,),
            lambda path: load_clip_score_verifier(path, architecture, allow_hub=download),
        )
