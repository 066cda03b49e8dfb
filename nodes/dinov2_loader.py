"""Loader node for the DINOv2 linear-classifier verifier (class-conditional models)."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..verifiers import imagenet_1k_classes, load_dinov2_verifier
from ..verifiers.downloads import DINOV2_BACKBONE, DINOV2_HEAD
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import list_transformers_folders
from .node_errors import reported_as
from .open_clip_inputs import download_input
from .verifier_cache import cached_verifier, weights_fingerprint
from .weights import ensure_weights, weight_options
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
                io.Combo.Input("backbone", options=sorted({*list_transformers_folders(), *weight_options(DINOV2_BACKBONE)}),
                               tooltip="A transformers DINOv2 folder in models/verifiers."),
                io.Combo.Input("head", options=weight_options(DINOV2_HEAD),
                               tooltip="The linear head for that backbone, e.g. dinov2_vitb14_linear_head.pth."),
                io.String.Input("class_names", multiline=True, default="",
                                tooltip="One class name per line, in the head's order. Empty: the ImageNet-1k classes."),
                download_input(),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, backbone: str, head: str, **settings: Any) -> tuple:
        return weights_fingerprint(backbone, head)

    @classmethod
    def execute(cls, backbone: str, head: str, class_names: str, download: bool) -> io.NodeOutput:
        names = parse_class_names(class_names) or imagenet_1k_classes()
        with reported_as(DISPLAY_NAME):
            backbone_path = ensure_weights(backbone, download, HOW_TO_GET)
            head_path = ensure_weights(head, download, HOW_TO_GET)
            return io.NodeOutput(cached_verifier(
                "dinov2", [backbone_path, head_path], tuple(names),
                lambda: load_dinov2_verifier(backbone_path, head_path, names),
            ))
