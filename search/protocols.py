"""The small interfaces the search algorithms talk through.

A :class:`Denoiser` runs the diffusion model; a :class:`Scorer` turns final latents into one score
per candidate (higher is better); a :class:`SearchMonitor` reports progress and stops the search on
cancel. ComfyUI implements them in ``nodes/``; tests implement them with plain tensors.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch


class Denoiser(Protocol):
    """Runs the sampler from initial noise to final latents and counts its network evaluations."""

    @property
    def nfes(self) -> int:
        """Network function evaluations so far: one per image row the network has been run on."""
        ...

    def initial_noise(self, seed: int) -> torch.Tensor:
        """The initial noise of the candidate with this seed, shaped like one latent ``[1, ...]``."""
        ...

    def denoise(self, noise: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """Sample a batch of candidates from their initial noise; ``seeds[i]`` drives row ``i``."""
        ...


class Scorer(Protocol):
    """Scores final latents: one float per row, higher is better."""

    def score(self, latents: torch.Tensor) -> torch.Tensor:
        ...


class SearchMonitor(Protocol):
    """Progress reporting and cancellation, called between batches of candidates."""

    def check_cancelled(self) -> None:
        """Raise to abandon the search."""
        ...

    def candidates_scored(self, done: int, total: int, best_score: float, nfes: int) -> None:
        ...


class NullMonitor:
    """A monitor that reports nothing and never cancels."""

    def check_cancelled(self) -> None:
        return None

    def candidates_scored(self, done: int, total: int, best_score: float, nfes: int) -> None:
        return None
