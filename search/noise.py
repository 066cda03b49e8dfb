"""Noise geometry: neighbours on the noise sphere and forward re-noising between noise levels."""

from __future__ import annotations

import math

import torch


def sphere_neighbour(pivot: torch.Tensor, angle: float, direction: torch.Tensor) -> torch.Tensor:
    """The point at ``angle`` radians from ``pivot`` on the sphere of the pivot's norm, towards ``direction``.

    ``direction`` (any Gaussian draw) is made orthogonal to the pivot, so the neighbour has exactly
    the pivot's norm (a typical Gaussian norm stays typical) and cosine similarity ``cos(angle)``.
    """
    flat_pivot = pivot.reshape(-1).double()
    flat_direction = direction.reshape(-1).double()
    radius = flat_pivot.norm()
    unit_pivot = flat_pivot / radius
    tangent = flat_direction - (flat_direction @ unit_pivot) * unit_pivot
    tangent = tangent / tangent.norm()
    neighbour = radius * (math.cos(angle) * unit_pivot + math.sin(angle) * tangent)
    return neighbour.reshape(pivot.shape).to(pivot.dtype)


def renoise_variance_exploding(
    clean_scaled: torch.Tensor, noise_level: float, target_level: float, noise: torch.Tensor
) -> torch.Tensor:
    """Forward-noise a state written as ``x / a(sigma)`` from level ``s`` to level ``s' > s``.

    Every diffusion parameterisation ``x = a(sigma)·x0 + b(sigma)·eps`` becomes variance-exploding
    after dividing by ``a``: ``u = x0 + s·eps`` with ``s = b/a``. Moving ``u`` from ``s`` to ``s'`` adds
    independent Gaussian noise of standard deviation ``sqrt(s'^2 - s^2)``.
    """
    if target_level < noise_level:
        raise ValueError(f"re-noising goes to more noise: {target_level} < {noise_level}")
    return clean_scaled + math.sqrt(target_level**2 - noise_level**2) * noise
