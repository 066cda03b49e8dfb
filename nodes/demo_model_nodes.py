"""The embedded demo model: its loader, its class conditioning and its digit-classifier verifier.

Everything loads from ``demo_model/weights`` in this pack; nothing is downloaded.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..demo_model import UNET_FILE, VERIFIER_FILE, WEIGHTS_DIR
from ..demo_model.comfy_model import NULL_CLASS, class_conditioning, load_demo_model, pixel_space_vae
from ..demo_model.digits import IMAGE_SIZE
from ..verifiers.digit_classifier import DigitClassLogitVerifier, digit_self_supervised_verifier, load_digit_classifier
from .comfy_types import CATEGORY, VerifierSocket
from .verifier_cache import cached_verifier

DEMO_CATEGORY = f"{CATEGORY}/demo"
CLASS_LOGIT, SELF_SUPERVISED = "class logit", "self-supervised"
VERIFIER_KINDS = {
    CLASS_LOGIT: lambda path, probe_level: DigitClassLogitVerifier(load_digit_classifier(path)),
    SELF_SUPERVISED: lambda path, probe_level: digit_self_supervised_verifier(load_digit_classifier(path), probe_level),
}


class LoadDemoModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchDemoModelLoader",
            display_name="Load Noise Search Demo Model",
            category=DEMO_CATEGORY,
            description="A small class-conditional diffusion model of handwritten digits (16×16 px) that ships with "
            "this pack, and ComfyUI's pixel-space VAE for it. Runs in seconds on a CPU; condition it with Demo Digit.",
            inputs=[],
            outputs=[io.Model.Output(display_name="model"), io.Vae.Output(display_name="vae")],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        return io.NodeOutput(load_demo_model(WEIGHTS_DIR / UNET_FILE), pixel_space_vae())


class DemoDigit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchDemoDigit",
            display_name="Demo Digit (Noise Search)",
            category=DEMO_CATEGORY,
            description="Conditioning for the demo model: the digit to draw (positive), the unconditional label "
            "(negative, for CFG) and an empty 16×16 latent. Give the same digit to the sampler's verifier_text.",
            inputs=[io.Int.Input("digit", default=7, min=0, max=9, tooltip="The digit to draw, 0 to 9.")],
            outputs=[
                io.Conditioning.Output(display_name="positive"),
                io.Conditioning.Output(display_name="negative"),
                io.Latent.Output(display_name="latent"),
            ],
        )

    @classmethod
    def execute(cls, digit: int) -> io.NodeOutput:
        latent = {"samples": torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)}
        return io.NodeOutput(class_conditioning(digit), class_conditioning(NULL_CLASS), latent)


class LoadDemoDigitVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchDemoDigitVerifierLoader",
            display_name="Load Demo Digit Verifier (Noise Search)",
            category=DEMO_CATEGORY,
            description="The demo model's verifiers, on a digit classifier that ships with this pack. class logit "
            "(the paper's supervised verifier): the classifier's logit for the digit in verifier_text. "
            "self-supervised: cosine similarity of its features between the final image and the x0 prediction "
            "at probe_level (needs no digit).",
            inputs=[
                io.Combo.Input("kind", options=list(VERIFIER_KINDS), default=CLASS_LOGIT),
                io.Float.Input("probe_level", default=0.4, min=0.05, max=0.95, step=0.01,
                               tooltip="self-supervised only: noise level t of the x0 prediction, as the "
                               "Self-Supervised Verifier's; the paper uses 0.4."),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def execute(cls, kind: str, probe_level: float) -> io.NodeOutput:
        path = WEIGHTS_DIR / VERIFIER_FILE
        settings = (kind, probe_level) if kind == SELF_SUPERVISED else (kind,)
        return io.NodeOutput(cached_verifier("demo digit", [path], settings, lambda: VERIFIER_KINDS[kind](path, probe_level)))
