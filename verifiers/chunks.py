"""Scoring a large batch a few images at a time, so memory stays bounded and no image is dropped."""

from __future__ import annotations

from typing import Callable

import torch

DEFAULT_CHUNK = 16
"""Images per forward pass of the image tower."""


def in_chunks(images: torch.Tensor, chunk: int, score: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``score`` applied to ``images`` ``chunk`` at a time, the results concatenated in order."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    if images.shape[0] == 0:
        return torch.empty(0)
    return torch.cat([score(images[start : start + chunk]) for start in range(0, images.shape[0], chunk)])
