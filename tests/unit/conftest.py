"""A toy diffusion process in plain tensors, for testing the search algorithms without ComfyUI."""

from __future__ import annotations

from typing import Sequence

import pytest
import torch

from search import Denoised
from search.noise import renoise_variance_exploding


class ToyDenoiser:
    """Euler steps of a variance-exploding ODE whose 'network' is a fixed smooth function.

    Rows never interact, segments compose exactly, and every step costs ``rows_per_step`` NFEs per row
    (2 stands for CFG's conditional + unconditional rows), counted the way the ComfyUI adapter counts.
    """

    def __init__(
        self, steps: int = 6, shape: tuple[int, ...] = (4, 8, 8), rows_per_step: int = 2, probe_index: int | None = None
    ) -> None:
        self.sigmas = torch.linspace(10.0, 0.0, steps + 1).tolist()
        self.probe_index = probe_index
        self.shape = shape
        self.rows_per_step = rows_per_step
        self.calls: list[tuple[list[int], int, int]] = []
        self._nfes = 0

    @property
    def nfes(self) -> int:
        return self._nfes

    @property
    def steps(self) -> int:
        return len(self.sigmas) - 1

    def initial_noise(self, seed: int) -> torch.Tensor:
        return torch.randn((1, *self.shape), generator=torch.Generator().manual_seed(seed))

    def network(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        return torch.tanh(x / (1.0 + sigma**2) ** 0.5 + 0.3)

    def initial_noises_of(self, states: torch.Tensor, start: int, initial_noises: torch.Tensor | None) -> torch.Tensor:
        """Each row's initial noise: the states themselves at step 0; later, what the caller must pass."""
        if start == 0:
            return states
        if initial_noises is None or initial_noises.shape != states.shape:
            raise AssertionError(f"a segment from step {start} needs each row's initial noise, got {initial_noises!r}")
        return initial_noises

    def start_state(self, noise: torch.Tensor) -> torch.Tensor:
        return noise * self.sigmas[0]

    def predict(self, x: torch.Tensor, sigma: float, initial_noises: torch.Tensor) -> torch.Tensor:
        """The x0 prediction of one step (the network's call)."""
        return self.network(x, sigma)

    def denoise(
        self, states: torch.Tensor, sampler_seeds: Sequence[int], start: int = 0, stop: int | None = None,
        initial_noises: torch.Tensor | None = None,
    ) -> Denoised:
        stop = self.steps if stop is None else stop
        noises = self.initial_noises_of(states, start, initial_noises)
        self.calls.append((list(sampler_seeds), start, stop))
        x = self.start_state(states) if start == 0 else states.clone()
        x0, probe = x, None
        for i in range(start, stop):
            sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
            x0 = self.predict(x, sigma, noises)
            if i == self.probe_index:
                probe = x0
            self._nfes += x.shape[0] * self.rows_per_step
            x = x + (x - x0) / sigma * (sigma_next - sigma)
        return Denoised(states=x, x0=x0, probe=probe)

    def renoise(
        self, states: torch.Tensor, start: int, to: int, noise: torch.Tensor, initial_noises: torch.Tensor
    ) -> torch.Tensor:
        assert initial_noises.shape == states.shape, "re-noising needs each row's initial noise"
        return renoise_variance_exploding(states, self.sigmas[start], self.sigmas[to], noise)

    def dry_run_nfes(self, start: int, stop: int) -> int:
        return (stop - start) * self.rows_per_step


class MaskedToyDenoiser(ToyDenoiser):
    """The toy ODE sampling a source image under a noise mask, the way ComfyUI's masked sampling does.

    Outside the mask the network sees the source noised with the row's own initial noise and its
    prediction is replaced by the source; the network mixes every position of a row (through the
    row's mean), so the masked region depends on that initial noise too. Re-noising puts the region
    outside the mask back on the source's trajectory.
    """

    def __init__(self, steps: int = 6, shape: tuple[int, ...] = (4, 8, 8), **kwargs) -> None:
        super().__init__(steps, shape, **kwargs)
        generator = torch.Generator().manual_seed(1234)
        self.source = torch.randn((1, *shape), generator=generator)
        self.mask = torch.zeros((1, *shape))
        self.mask[..., : shape[-2] // 2, :] = 1.0
        self.mask[..., shape[-2] // 2, :] = 0.5  # a soft edge

    def on_source_trajectory(self, sigma: float, initial_noises: torch.Tensor) -> torch.Tensor:
        return self.source + sigma * initial_noises

    def start_state(self, noise: torch.Tensor) -> torch.Tensor:
        return self.on_source_trajectory(self.sigmas[0], noise)

    def network(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        row_mean = x.flatten(1).mean(dim=1).reshape(-1, *([1] * (x.ndim - 1)))
        return torch.tanh(x / (1.0 + sigma**2) ** 0.5 + 0.3 + 0.5 * row_mean / (1.0 + sigma))

    def predict(self, x: torch.Tensor, sigma: float, initial_noises: torch.Tensor) -> torch.Tensor:
        outside = 1.0 - self.mask
        seen = x * self.mask + self.on_source_trajectory(sigma, initial_noises) * outside
        return self.network(seen, sigma) * self.mask + self.source * outside

    def renoise(
        self, states: torch.Tensor, start: int, to: int, noise: torch.Tensor, initial_noises: torch.Tensor
    ) -> torch.Tensor:
        renoised = super().renoise(states, start, to, noise, initial_noises)
        return renoised * self.mask + self.on_source_trajectory(self.sigmas[to], initial_noises) * (1.0 - self.mask)


class MeanScorer:
    """Scores a latent by its mean: any deterministic per-row function will do."""

    def __init__(self) -> None:
        self.rows = 0

    def score(self, latents: torch.Tensor, probes: torch.Tensor | None = None) -> torch.Tensor:
        self.rows += latents.shape[0]
        return latents.flatten(1).mean(dim=1)


class FinishedSamplesOnlyScorer(MeanScorer):
    """A scorer like the self-supervised verifier's, which cannot score x0 predictions mid-sampling."""

    scores_previews = False
    verifier_names = ("self-supervised",)


@pytest.fixture
def finished_samples_scorer() -> FinishedSamplesOnlyScorer:
    return FinishedSamplesOnlyScorer()


@pytest.fixture
def denoiser() -> ToyDenoiser:
    return ToyDenoiser()


@pytest.fixture
def make_denoiser() -> type[ToyDenoiser]:
    return ToyDenoiser


@pytest.fixture
def scorer() -> MeanScorer:
    return MeanScorer()
