"""Plain-tensor stand-ins for the sampler and the verifier, for testing search algorithms alone."""

from __future__ import annotations

from typing import Sequence

import pytest
import torch


class SeededDenoiser:
    """A deterministic 'sampler': the final latent is a fixed function of the initial noise.

    Each row costs ``steps * rows_per_step`` network evaluations, counted as the real adapter counts.
    """

    def __init__(self, shape: tuple[int, ...] = (4, 8, 8), steps: int = 5, rows_per_step: int = 2) -> None:
        self.shape = shape
        self.steps = steps
        self.rows_per_step = rows_per_step
        self.calls: list[list[int]] = []
        self._nfes = 0

    @property
    def nfes(self) -> int:
        return self._nfes

    def initial_noise(self, seed: int) -> torch.Tensor:
        return torch.randn((1, *self.shape), generator=torch.Generator().manual_seed(seed))

    def denoise(self, noise: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        self.calls.append(list(seeds))
        self._nfes += noise.shape[0] * self.steps * self.rows_per_step
        return torch.tanh(noise) * 0.5


class MeanScorer:
    """Scores a latent by its mean: any deterministic per-row function will do."""

    def score(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.flatten(1).mean(dim=1)


@pytest.fixture
def denoiser() -> SeededDenoiser:
    return SeededDenoiser()


@pytest.fixture
def make_denoiser() -> type[SeededDenoiser]:
    return SeededDenoiser


@pytest.fixture
def scorer() -> MeanScorer:
    return MeanScorer()
