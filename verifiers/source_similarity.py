"""Faithfulness to a source image: for edits and inpainting, how much a candidate stays what it was.

Score = cosine similarity of the candidate's image features with the reference image's (DINOv2 or CLIP, see
:mod:`image_features`), in -1..1. With a mask, only one region is compared: outside it both images are set
to the same mid-grey before embedding, so what differs there cannot move the score. ``kept`` compares what an
edit should keep (outside the mask: the person, the scene); ``edited`` what it changed (inside the mask).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .image_features import ImageFeatures

WHOLE_IMAGE, KEPT_REGION, EDITED_REGION = "whole image", "kept region (outside the mask)", "edited region (inside the mask)"
REGIONS = (WHOLE_IMAGE, KEPT_REGION, EDITED_REGION)
NEUTRAL_GREY = 0.5


def check_reference(reference: torch.Tensor, mask: torch.Tensor | None) -> None:
    """One reference image ``[1, H, W, C]``, and a mask ``[H, W]`` or ``[1, H, W]`` of its size, or a ValueError."""
    if reference.ndim != 4 or reference.shape[0] != 1:
        raise ValueError(f"the reference image must be one image; it is a batch of shape {tuple(reference.shape)}. "
                         "Pick one image from the batch (e.g. with an Image From Batch node)")
    if mask is None:
        return
    if mask.ndim == 3 and mask.shape[0] != 1 or mask.ndim not in (2, 3):
        raise ValueError(f"the mask must be one mask [H, W]; it has shape {tuple(mask.shape)}")
    if tuple(mask.shape[-2:]) != tuple(reference.shape[1:3]):
        raise ValueError(f"the mask is {mask.shape[-1]}×{mask.shape[-2]} but the reference image is "
                         f"{reference.shape[2]}×{reference.shape[1]}; use the mask made for that image")


class SourceSimilarityVerifier:
    name = "source similarity"
    needs_condition = False

    def __init__(self, image_features: ImageFeatures, reference: torch.Tensor, mask: torch.Tensor | None = None,
                 region: str = WHOLE_IMAGE) -> None:
        if region not in REGIONS:
            raise ValueError(f"region is {region!r}; choose one of {', '.join(REGIONS)}")
        if region != WHOLE_IMAGE and mask is None:
            raise ValueError(f"region '{region}' needs a mask; connect one, or compare the whole image")
        check_reference(reference, mask)
        self.image_features = image_features
        self.reference = reference.float()
        self.mask = None if mask is None or region == WHOLE_IMAGE else mask.reshape(1, 1, *mask.shape[-2:]).float()
        self.region = region

    @property
    def module(self) -> torch.nn.Module:
        return self.image_features.module

    def compared_pixels(self, images: torch.Tensor) -> torch.Tensor:
        """The images with everything outside the compared region set to mid-grey."""
        if self.mask is None:
            return images
        weight = F.interpolate(self.mask.to(images.device), size=images.shape[1:3], mode="bilinear", align_corners=False)
        weight = weight.clamp(0.0, 1.0).permute(0, 2, 3, 1)
        if self.region == KEPT_REGION:
            weight = 1.0 - weight
        return images * weight + NEUTRAL_GREY * (1.0 - weight)

    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        reference = self.reference.to(images.device)
        if tuple(reference.shape[1:3]) != tuple(images.shape[1:3]):
            reference = F.interpolate(reference.permute(0, 3, 1, 2), size=images.shape[1:3], mode="bicubic",
                                      align_corners=False, antialias=True).clamp(0.0, 1.0).permute(0, 2, 3, 1)
        wanted = self.image_features.features(self.compared_pixels(reference[..., : images.shape[-1]]))
        features = self.image_features.features(self.compared_pixels(images))
        return (features @ wanted[0]).cpu()
