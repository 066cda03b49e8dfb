"""Loader node for the DINOv2 linear-classifier verifier (class-conditional models)."""

from __future__ import annotations

from comfy_api.latest import io

from ..verifiers import VerifierWeightsMissing, imagenet_1k_classes, load_dinov2_verifier
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import list_transformers_folders, list_verifier_weights, resolve_verifier_weights
from .node_errors import reported_as
from .verifier_cache import cached_verifier
from .zero_shot_loader import parse_class_names

DISPLAY_NAME = "Load DINOv2 Class-Logit Verifier (Noise Search)"
HOW_TO_GET = (
    "The backbone is a transformers DINOv2 folder (config.json + model.safetensors, e.g. facebook/dinov2-base); "
    "the head is the official linear classifier for it (dinov2_vitb14_linear_head.pth from facebookresearch/dinov2)."
)


class LoadDINOv2Verifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchDINOv2VerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="For class-conditional models (the paper's DINO verifier): scores each image by a DINOv2 "
            "linear classifier's logit for the requested class (verifier_text: class name or index).",
            inputs=[
                io.Combo.Input("backbone", options=list_transformers_folders(),
                               tooltip="A transformers DINOv2 folder in models/verifiers."),
                io.Combo.Input("head", options=list_verifier_weights(),
                               tooltip="The linear head for that backbone, e.g. dinov2_vitb14_linear_head.pth."),
                io.String.Input("class_names", multiline=True, default="",
                                tooltip="One class name per line, in the head's order. Empty: the ImageNet-1k classes."),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def validate_inputs(cls, backbone: str, head: str, class_names: str) -> bool | str:
        try:
            resolve_verifier_weights(backbone, HOW_TO_GET)
            resolve_verifier_weights(head, HOW_TO_GET)
        except VerifierWeightsMissing as missing:
            return f"{DISPLAY_NAME}: {missing}"
        return True

    @classmethod
    def execute(cls, backbone: str, head: str, class_names: str) -> io.NodeOutput:
        names = parse_class_names(class_names) or imagenet_1k_classes()
        with reported_as(DISPLAY_NAME):
            backbone_path = resolve_verifier_weights(backbone, HOW_TO_GET)
            head_path = resolve_verifier_weights(head, HOW_TO_GET)
            return io.NodeOutput(cached_verifier(
                "dinov2", [backbone_path, head_path], tuple(names),
                lambda: load_dinov2_verifier(backbone_path, head_path, names),
            ))
