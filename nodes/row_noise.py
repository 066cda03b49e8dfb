"""Per-row noise streams, so ancestral and SDE samplers can sample a batch of candidates at once.

ComfyUI's ancestral and SDE samplers draw each step's noise for the whole batch from the call's one seed, so a
candidate sampled in a batch would differ from the same seed sampled alone. Each of them takes a
``noise_sampler``; :func:`with_row_noise` gives it one that builds, for every row, the noise sampler a batch-1
call builds for that row's seed, with ComfyUI's own constructors. Which constructor a sampler uses (a seeded
generator, or a Brownian tree kept on the CPU or on the device) is not declared anywhere, so the denoiser finds
it by calibration (:data:`ROW_NOISE_KINDS`, tried in order) and samples one candidate per call when none fits.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import torch

import comfy.k_diffusion.sampling as k_sampling
import comfy.samplers

NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
RowNoiseKind = Callable[[torch.Tensor, torch.Tensor, int], NoiseSampler]
"""Builds one row's noise sampler from the row ``[1, ...]``, the call's sigmas and the row's seed."""


def seeded_generator_noise(row: torch.Tensor, sigmas: torch.Tensor, seed: int) -> NoiseSampler:
    """What ancestral samplers build: fresh normal noise from a generator seeded once per call."""
    return k_sampling.default_noise_sampler(row, seed=seed)


def brownian_noise(on_cpu: bool) -> RowNoiseKind:
    """What SDE samplers build: a Brownian tree over the call's sigma range (kept on the CPU, or not: the _gpu samplers)."""

    def build(row: torch.Tensor, sigmas: torch.Tensor, seed: int) -> NoiseSampler:
        sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
        return k_sampling.BrownianTreeNoiseSampler(row, sigma_min, sigma_max, seed=seed, cpu=on_cpu)

    return build


ROW_NOISE_KINDS: tuple[RowNoiseKind, ...] = (seeded_generator_noise, brownian_noise(on_cpu=True), brownian_noise(on_cpu=False))


class RowNoiseSampler:
    """A batch's noise sampler made of one noise sampler per row, each seeded with that row's seed."""

    def __init__(self, x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int], kind: RowNoiseKind) -> None:
        if len(seeds) != x.shape[0]:
            raise ValueError(f"{len(seeds)} sampler seeds for a batch of {x.shape[0]} rows")
        self.rows = [kind(x[i : i + 1], sigmas, seed) for i, seed in enumerate(seeds)]

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return torch.cat([row(sigma, sigma_next) for row in self.rows])


def takes_row_noise(sampler: Any) -> bool:
    """Whether the sampler's noise can be replaced per row: a KSAMPLER whose function takes ``noise_sampler``.

    Not when the sampler already brings its own noise sampler, nor with ComfyUI's random inpainting noise, which
    is drawn once per call from the call's seed.
    """
    if not isinstance(sampler, comfy.samplers.KSAMPLER):
        return False
    return ("noise_sampler" in inspect.signature(sampler.sampler_function).parameters
            and "noise_sampler" not in sampler.extra_options and not sampler.inpaint_options.get("random", False))


def with_row_noise(sampler: Any, seeds: Sequence[int], kind: RowNoiseKind) -> Any:
    """A copy of a KSAMPLER whose step noise for row ``i`` comes from ``seeds[i]``, built by ``kind``."""
    function = sampler.sampler_function

    def sampler_function(model: Any, x: torch.Tensor, sigmas: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return function(model, x, sigmas, *args, noise_sampler=RowNoiseSampler(x, sigmas, seeds, kind), **kwargs)

    return comfy.samplers.KSAMPLER(sampler_function, sampler.extra_options, sampler.inpaint_options)
