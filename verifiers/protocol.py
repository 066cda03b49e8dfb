"""The interface every verifier implements."""

from __future__ import annotations

from typing import Protocol

import torch


class Verifier(Protocol):
    """Scores a batch of images; each image's score depends on that image (and the condition) alone."""

    name: str
    needs_condition: bool
    """Whether :meth:`score` needs a condition (a prompt); one that needs none ignores it."""

    @property
    def module(self) -> torch.nn.Module:
        """The weights, so the host application can move them between devices."""
        ...

    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        """``images``: ``[B, H, W, C]`` floats in 0..1. Returns a float tensor ``[B]`` on the CPU."""
        ...
