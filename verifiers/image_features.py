"""Image embeddings for the feature-similarity verifiers: unit vectors from an image tower.

Two towers: an ``encode_image`` model (open_clip's CLIP, preprocessed as the CLIP score verifier does) and
DINOv2 (transformers), whose class token after the final layer norm (the pooler output) is what DINO
image-similarity metrics compare, preprocessed as transformers' DINOv2 image processor does: shortest side to
256/224 of the crop, bicubic, centre crop, ImageNet normalisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F

from .errors import VerifierConfigError
from .image_preprocessing import normalize, resize_and_center_crop

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DINOV2_CROP, DINOV2_RESIZE = 224, 256


class ImageFeatures(Protocol):
    """``features(images [N, H, W, C] in 0..1) -> [N, D]`` unit vectors (float32, on the model's device)."""

    name: str

    @property
    def module(self) -> torch.nn.Module:
        ...

    def features(self, images: torch.Tensor) -> torch.Tensor:
        ...


class EncoderImageFeatures:
    """An ``encode_image`` tower (open_clip's CLIP) on its own resize, centre crop and normalisation."""

    name = "CLIP image features"

    def __init__(self, model: torch.nn.Module, image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self._model = model.eval()
        self.image_size = image_size
        self.mean = tuple(mean)
        self.std = tuple(std)

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    @torch.inference_mode()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        parameter = next(self._model.parameters())
        pixels = normalize(resize_and_center_crop(images, self.image_size), self.mean, self.std)
        return F.normalize(self._model.encode_image(pixels.to(parameter.device, parameter.dtype)).float(), dim=-1)


class PooledDINOv2(torch.nn.Module):
    """A transformers DINOv2 returning its pooled class token; a plain module, as a host's model manager needs
    (it sets attributes such as ``device`` that a transformers model keeps read-only)."""

    def __init__(self, backbone: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.backbone(pixel_values=pixels).pooler_output


class DINOv2ImageFeatures:
    """DINOv2's pooled class token."""

    name = "DINOv2 image features"

    def __init__(self, backbone: torch.nn.Module, crop_size: int) -> None:
        self._backbone = PooledDINOv2(backbone).eval().requires_grad_(False)
        self.crop_size = crop_size
        self.resize_size = round(crop_size * DINOV2_RESIZE / DINOV2_CROP)

    @property
    def module(self) -> torch.nn.Module:
        return self._backbone

    @torch.inference_mode()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        parameter = next(self._backbone.parameters())
        resized = resize_and_center_crop(images, self.resize_size)
        offset = (self.resize_size - self.crop_size) // 2
        cropped = resized[:, :, offset : offset + self.crop_size, offset : offset + self.crop_size]
        pixels = normalize(cropped, IMAGENET_MEAN, IMAGENET_STD)
        return F.normalize(self._backbone(pixels.to(parameter.device, parameter.dtype)).float(), dim=-1)


def is_dinov2_folder(path: Path) -> bool:
    config = path / "config.json"
    return path.is_dir() and config.is_file() and json.loads(config.read_text()).get("model_type") == "dinov2"


def load_image_features(path: Path, architecture: str, allow_hub: bool = False) -> ImageFeatures:
    """DINOv2 from a transformers folder whose config says ``dinov2``; otherwise open_clip weights (a file or folder)."""
    if is_dinov2_folder(path):
        from transformers import Dinov2Model

        backbone = Dinov2Model.from_pretrained(str(path), local_files_only=True)
        return DINOv2ImageFeatures(backbone, min(DINOV2_CROP, backbone.config.image_size))
    if path.is_dir() and (path / "config.json").is_file():
        raise VerifierConfigError(
            f"{path.name} is a transformers folder but not DINOv2; give a DINOv2 folder (e.g. facebook/dinov2-base) "
            "or open_clip weights"
        )
    from .open_clip_loading import load_clip_score_verifier

    clip = load_clip_score_verifier(path, architecture, allow_hub)
    return EncoderImageFeatures(clip.module, clip.image_size, clip.mean, clip.std)
