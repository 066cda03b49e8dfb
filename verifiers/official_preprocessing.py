"""Two scorers' own image preprocessing, redone in torch on float images so the model inputs match theirs.

- :func:`clip_processor_pixels`: transformers' ``CLIPImageProcessor`` (PickScore's processor): the shortest side
  to ``shortest_edge`` with the long side scaled and floored as transformers computes it, bicubic with
  antialiasing, a centre crop with floored offsets, then mean/std.
- :func:`longest_side_padded_pixels`: hpsv2's ``ResizeMaxSize`` (HPSv2's validation transform): the longest
  side to ``size``, bicubic with antialiasing, then zero padding (black, before normalising) to a square
  with the odd pixel on the right/bottom, then mean/std. No crop: the whole image is seen.

Both act on each image alone (a batch is just many images) and neither clamps after resizing, as
torchvision's resize of a float tensor does not. Inputs are ComfyUI IMAGE tensors, ``[B, H, W, C]`` in 0..1.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .image_preprocessing import normalize


def rgb_channels_first(images: torch.Tensor) -> torch.Tensor:
    """``[B, H, W, C]`` (C = 1, 3 or 4) -> ``[B, 3, H, W]`` floats: alpha dropped, grey repeated."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected images shaped [B, H, W, C] with 1, 3 or 4 channels, got {tuple(images.shape)}")
    pixels = images[..., :3] if images.shape[-1] >= 3 else images.expand(-1, -1, -1, 3)
    return pixels.permute(0, 3, 1, 2).float()


def bicubic_resize(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """torchvision's ``resize(..., BICUBIC, antialias=True)`` of a float tensor: the same interpolate call, no clamp."""
    if tuple(pixels.shape[-2:]) == size:
        return pixels
    return F.interpolate(pixels, size=size, mode="bicubic", align_corners=False, antialias=True)


def clip_processor_pixels(images: torch.Tensor, shortest_edge: int, crop: tuple[int, int],
                          mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``CLIPImageProcessor``'s pixel values for float images: ``[B, 3, crop_h, crop_w]``."""
    pixels = rgb_channels_first(images)
    height, width = pixels.shape[-2:]
    if height <= width:  # transformers' get_resize_output_image_size: int() of the scaled long side
        size = (shortest_edge, int(shortest_edge * width / height))
    else:
        size = (int(shortest_edge * height / width), shortest_edge)
    pixels = bicubic_resize(pixels, size)
    crop_height, crop_width = crop
    if crop_height > size[0] or crop_width > size[1]:
        raise ValueError(f"a {crop_height}x{crop_width} crop does not fit a {size[0]}x{size[1]} resized image")
    top, left = (size[0] - crop_height) // 2, (size[1] - crop_width) // 2
    return normalize(pixels[:, :, top : top + crop_height, left : left + crop_width], mean, std)


def longest_side_padded_pixels(images: torch.Tensor, size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """hpsv2's validation transform for float images: ``[B, 3, size, size]``.

    hpsv2 skips resizing *and padding* when the longest side is already ``size``, which leaves a non-square
    image non-square (and the model then fails); here such an image is padded like any other.
    """
    pixels = rgb_channels_first(images)
    height, width = pixels.shape[-2:]
    scale = size / max(height, width)
    new_height, new_width = round(height * scale), round(width * scale)  # Python's round, as hpsv2's
    pixels = bicubic_resize(pixels, (new_height, new_width))
    pad_height, pad_width = size - new_height, size - new_width
    pixels = F.pad(pixels, (pad_width // 2, pad_width - pad_width // 2, pad_height // 2, pad_height - pad_height // 2))
    return normalize(pixels, mean, std)
