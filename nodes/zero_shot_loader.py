"""Loader node for the CLIP zero-shot class-logit verifier (class-conditional models)."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..verifiers import load_zero_shot_verifier
from .comfy_types import CATEGORY, VerifierSocket
from .open_clip_inputs import open_clip_inputs, open_clip_verifier_output
from .verifier_cache import weights_fingerprint

DISPLAY_NAME = "Load CLIP Class-Logit Verifier (Noise Search)"


def parse_class_names(text: str) -> list[str] | None:
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return names or None


class LoadZeroShotVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchZeroShotVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="For class-conditional models: scores each image by CLIP's zero-shot logit for the "
            "requested class (the search sampler's verifier_text: a class name or index).",
            inputs=[
                *open_clip_inputs("open_clip weights in models/verifiers."),
                io.String.Input(
                    "class_names", multiline=True, default="",
                    tooltip="One class name per line, in the model's class order. Empty: the ImageNet-1k classes.",
                ),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights)

    @classmethod
    def execute(cls, weights: str, architecture: str, download: bool, class_names: str) -> io.NodeOutput:
        names = parse_class_names(class_names)
        return open_clip_verifier_output(
            DISPLAY_NAME, "zero-shot", weights, download, (architecture, tuple(names or ())),
            lambda path: load_zero_shot_verifier(path, architecture, names, allow_hub=download),
        )
