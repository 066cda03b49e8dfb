"""The search's :class:`Denoiser` protocol, implemented once over ComfyUI's guider/sampler/sigmas."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import torch

import comfy.model_management
import comfy.patcher_extension
import comfy.sample
import comfy.samplers

NFE_COUNTER_KEY = "noise_search_nfe_counter"

StepCallback = Callable[[int, torch.Tensor], None]
"""Called after every sampler step with (rows in the batch, x0 prediction in the model's space)."""


class NFECounter:
    """Counts network evaluations exactly: every row of every batch the diffusion model is run on.

    With CFG the conditional and unconditional passes are separate rows, so one CFG step of one
    image costs 2 NFEs (1 when cfg is 1.0 and ComfyUI skips the unconditional pass), as the paper counts.
    """

    def __init__(self) -> None:
        self.count = 0

    def wrapper(self, executor: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.count += int(x.shape[0])
        return executor(x, *args, **kwargs)


def counted_model(model: Any, counter: NFECounter) -> Any:
    """A clone of a ModelPatcher whose every apply_model call is counted."""
    clone = model.clone()
    comfy.patcher_extension.add_wrapper_with_key(
        comfy.patcher_extension.WrappersMP.APPLY_MODEL, NFE_COUNTER_KEY, counter.wrapper, clone.model_options,
        is_model_options=True,
    )
    return clone


def draws_noise_per_call(sampler: Any) -> bool:
    """Whether the sampler draws fresh noise from the call's seed (ancestral, SDE or unknown samplers).

    Such a sampler draws one noise tensor for the whole batch from one seed, so a candidate sampled
    in a batch would differ from the same seed sampled alone; these run one candidate per call.
    """
    if not isinstance(sampler, comfy.samplers.KSAMPLER):
        return True
    return "noise_sampler" in inspect.signature(sampler.sampler_function).parameters


class ComfyDenoiser:
    """Samples candidates with a ComfyUI guider, the way KSampler and SamplerCustomAdvanced do."""

    def __init__(
        self,
        guider: Any,
        sampler: Any,
        sigmas: torch.Tensor,
        latent_image: torch.Tensor,
        counter: NFECounter,
        noise_mask: torch.Tensor | None = None,
        batch_index: Sequence[int] | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.guider = guider
        self.sampler = sampler
        self.sigmas = sigmas
        self.latent_image = latent_image
        self.noise_mask = noise_mask
        self.batch_index = list(batch_index) if batch_index is not None else None
        self.on_step = on_step
        self._counter = counter
        self._one_candidate_per_call = draws_noise_per_call(sampler)

    @property
    def nfes(self) -> int:
        return self._counter.count

    @property
    def steps(self) -> int:
        return len(self.sigmas) - 1

    def initial_noise(self, seed: int) -> torch.Tensor:
        return comfy.sample.prepare_noise(self.latent_image, seed, self.batch_index)

    def denoise(self, noise: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        if self._one_candidate_per_call and len(seeds) > 1:
            return torch.cat([self.denoise(noise[i : i + 1], [seed]) for i, seed in enumerate(seeds)], dim=0)
        rows = noise.shape[0]
        latent = self.latent_image.repeat(rows, *([1] * (self.latent_image.ndim - 1)))
        callback = None
        if self.on_step is not None:
            on_step = self.on_step

            def callback(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
                on_step(rows, x0)

        samples = self.guider.sample(
            noise, latent, self.sampler, self.sigmas, denoise_mask=self.noise_mask, callback=callback,
            disable_pbar=True, seed=seeds[0],
        )
        return samples.to(comfy.model_management.intermediate_device())
