"""Loader nodes for the feature-similarity verifiers: source similarity (edits) and temporal consistency (video).

Both embed images with one image tower (DINOv2 or CLIP), built once per process and shared by both loaders;
source similarity adds this prompt's reference image (and mask) around the cached tower.
"""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ..verifiers import SourceSimilarityVerifier, TemporalConsistencyVerifier, VerifierConfigError, load_image_features
from ..verifiers.downloads import DINOV2_BACKBONE, OPEN_CLIP
from ..verifiers.open_clip_loading import AUTO_ARCHITECTURE, builtin_architectures
from ..verifiers.source_similarity import REGIONS, WHOLE_IMAGE
from .comfy_scoring import ManagedVerifier
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import list_transformers_folders
from .node_errors import reported_as
from .open_clip_inputs import download_input
from .verifier_cache import cached_verifier, weights_fingerprint
from .weights import ensure_weights, weight_options

SOURCE_DISPLAY_NAME = "Load Source Similarity Verifier (Noise Search)"
TEMPORAL_DISPLAY_NAME = "Load Temporal Consistency Verifier (Noise Search)"
HOW_TO_GET = (
    "Use a transformers DINOv2 folder (config.json + model.safetensors, e.g. facebook/dinov2-base) or open_clip "
    "weights (a folder with open_clip_config.json and open_clip_model.safetensors, or a checkpoint file of a built-in "
    "architecture) in models/verifiers."
)


def feature_inputs() -> list[io.Input]:
    return [
        io.Combo.Input(
            "features", options=sorted({*list_transformers_folders(), *weight_options(DINOV2_BACKBONE), *weight_options(OPEN_CLIP)}),
            tooltip="The image tower whose features are compared: a DINOv2 folder (DINO features: sensitive to identity, "
            "layout and texture) or open_clip weights (CLIP features: closer to what the image shows), in models/verifiers.",
        ),
        io.Combo.Input("architecture", options=[AUTO_ARCHITECTURE, *builtin_architectures()], default=AUTO_ARCHITECTURE,
                       tooltip="For a single open_clip checkpoint file: its architecture ('auto' reads it from the folder "
                       "or the file name). Ignored for DINOv2."),
        download_input(),
    ]


def image_features_verifier(features: str, architecture: str, download: bool) -> ManagedVerifier:
    """The cached tower, as a temporal-consistency verifier (which holds nothing but the tower)."""
    path = ensure_weights(features, download, HOW_TO_GET)
    return cached_verifier("image features", [path], (architecture,),
                           lambda: TemporalConsistencyVerifier(load_image_features(path, architecture, allow_hub=download)))


class LoadSourceSimilarityVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchSourceSimilarityVerifierLoader",
            display_name=SOURCE_DISPLAY_NAME,
            category=CATEGORY,
            description="For edits and inpainting: scores each candidate by the cosine similarity (-1..1) of its image "
            "features with the source image's, so an ensemble can weigh following the prompt against staying the same "
            "person or scene. With a mask, compares only the region kept by the edit (outside the mask) or the edited one.",
            inputs=[
                *feature_inputs(),
                io.Image.Input("image", tooltip="The source image: one image (it is resized to each candidate's size)."),
                io.Combo.Input("region", options=list(REGIONS), default=WHOLE_IMAGE,
                               tooltip="What is compared: the whole image, what the edit should keep (outside the mask), "
                               "or the edited region (inside the mask). The last two need the mask."),
                io.Mask.Input("mask", optional=True, tooltip="The edit's mask (white = edited), the size of the image."),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, features: str, **settings: Any) -> tuple:
        return weights_fingerprint(features)

    @classmethod
    def execute(cls, features: str, architecture: str, download: bool, image: torch.Tensor, region: str,
                mask: torch.Tensor | None = None) -> io.NodeOutput:
        with reported_as(SOURCE_DISPLAY_NAME):
            tower = image_features_verifier(features, architecture, download)
            try:
                verifier = SourceSimilarityVerifier(tower.verifier.image_features, image, mask, region)
            except ValueError as error:
                raise VerifierConfigError(f"image, mask or region: {error}") from error
            return io.NodeOutput(ManagedVerifier(verifier, patcher=tower.patcher))


class LoadTemporalConsistencyVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchTemporalConsistencyVerifierLoader",
            display_name=TEMPORAL_DISPLAY_NAME,
            category=CATEGORY,
            description="For video: scores each candidate video by the mean cosine similarity (-1..1) of consecutive "
            "picked frames' features, so a search can prefer steady videos. It also lowers wanted motion: use it in an "
            "ensemble beside a verifier of what the video shows. Needs at least two picked frames per video.",
            inputs=feature_inputs(),
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, features: str, **settings: Any) -> tuple:
        return weights_fingerprint(features)

    @classmethod
    def execute(cls, features: str, architecture: str, download: bool) -> io.NodeOutput:
        with reported_as(TEMPORAL_DISPLAY_NAME):
            return io.NodeOutput(image_features_verifier(features, architecture, download))
