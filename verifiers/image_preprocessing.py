"""Image preprocessing for vision encoders, in torch, one image at a time in effect.

Every operation here acts on each image independently, so an image's model input (and so its score)
does not depend on what else is in the batch.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def resize_and_center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, H, W, C]`` in 0..1 -> ``[B, C, size, size]``: shortest side to ``size`` (bicubic), centre crop."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected images shaped [B, H, W, C] with 1, 3 or 4 channels, got {tuple(images.shape)}")
    pixels = images[..., :3] if images.shape[-1] >= 3 else images.expand(-1, -1, -1, 3)
    pixels = pixels.permute(0, 3, 1, 2).float()
    height, width = pixels.shape[-2:]
    scale = size / min(height, width)
    new_height, new_width = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_height, new_width) != (height, width):
        pixels = F.interpolate(pixels, size=(new_height, new_width), mode="bicubic", align_corners=False, antialias=True)
    top, left = (new_height - size) // 2, (new_width - size) // 2
    return pixels[:, :, top : top + size, left : left + size].clamp(0.0, 1.0)


def normalize(pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    mean_t = torch.tensor(mean, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    return (pixels - mean_t) / std_t
