"""Loader node for the LAION aesthetic predictor (its head file + a CLIP ViT-L/14 in models/verifiers)."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..verifiers import load_aesthetic_verifier
from ..verifiers.downloads import AESTHETIC_HEAD
from .comfy_types import CATEGORY, VerifierSocket
from .node_errors import reported_as
from .open_clip_inputs import HOW_TO_GET, open_clip_inputs
from .verifier_cache import cached_verifier, weights_fingerprint
from .weights import ensure_weights, weight_options

DISPLAY_NAME = "Load Aesthetic Verifier (Noise Search)"
HEAD_HOW_TO_GET = (
    "Use the LAION improved aesthetic predictor's head, sac+logos+ava1-l14-linearMSE.pth "
    "(christophschuhmann/improved-aesthetic-predictor), with CLIP ViT-L/14 (OpenAI) weights as the clip input."
)


class LoadAestheticVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchAestheticVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Rates images with the LAION improved aesthetic predictor (about 1 to 10); needs no prompt.",
            inputs=[
                io.Combo.Input("head", options=weight_options(AESTHETIC_HEAD),
                               tooltip="The predictor's head, e.g. sac+logos+ava1-l14-linearMSE.pth, in models/verifiers."),
                *open_clip_inputs("CLIP ViT-L/14 weights (OpenAI), whose image embeddings the head rates."),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, head: str, weights: str, **settings: Any) -> tuple:
        return weights_fingerprint(head, weights)

    @classmethod
    def execute(cls, head: str, weights: str, architecture: str, download: bool) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            head_path = ensure_weights(head, download, HEAD_HOW_TO_GET)
            clip_path = ensure_weights(weights, download, HOW_TO_GET)
            return io.NodeOutput(cached_verifier(
                "aesthetic", [head_path, clip_path], (architecture,),
                lambda: load_aesthetic_verifier(head_path, clip_path, architecture, allow_hub=download),
            ))
