"""Loader node for the self-supervised verifier (CLIP image features, no prompt needed)."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..verifiers import load_self_supervised_verifier
from .comfy_types import CATEGORY, VerifierSocket
from .open_clip_inputs import open_clip_inputs, open_clip_verifier_output
from .verifier_cache import weights_fingerprint

DISPLAY_NAME = "Load Self-Supervised Verifier (Noise Search)"


class LoadSelfSupervisedVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchSelfSupervisedVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores each candidate by the CLIP-feature cosine similarity between its final image and the "
            "model's own x0 prediction at a low noise level. Needs no prompt; costs no extra NFEs. Works with "
            "random and zero-order search.",
            inputs=[
                *open_clip_inputs("open_clip weights in models/verifiers (its image tower is used)."),
                io.Float.Input(
                    "probe_level", default=0.4, min=0.05, max=0.95, step=0.01,
                    tooltip="Noise level t of the x0 prediction compared with the final image, in the interpolant "
                    "(1 - t)·image + t·noise, so it means the same for EPS and flow models. The paper uses 0.4.",
                ),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights)

    @classmethod
    def execute(cls, weights: str, architecture: str, download: bool, probe_level: float) -> io.NodeOutput:
        return open_clip_verifier_output(
            DISPLAY_NAME, "self-supervised", weights, download, (architecture, probe_level),
            lambda path: load_self_supervised_verifier(path, architecture, probe_level, allow_hub=download),
        )
