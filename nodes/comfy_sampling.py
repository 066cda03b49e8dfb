"""The search's :class:`Denoiser` protocol, implemented once over ComfyUI's guider/sampler/sigmas."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import math
from typing import Any, Callable, Iterator, Sequence

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.patcher_extension
import comfy.sample
import comfy.sampler_helpers
import comfy.samplers

from ..search import Denoised, SearchConfigError
from ..search.noise import renoise_variance_exploding
from .row_noise import ROW_NOISE_KINDS, RowNoiseKind, takes_row_noise, with_row_noise

NFE_COUNTER_KEY = "noise_search_nfe_counter"

CALIBRATION_SEEDS = (11, 12)
"""Two seeds for calibrating per-row noise: distinct, so rows that swapped their streams would show."""

StepCallback = Callable[[torch.Tensor], None]
"""Called after every sampler step (its NFEs already counted) with the step's x0 prediction."""


class NFECounter:
    """Counts network evaluations exactly: every row of every batch the diffusion model is run on.

    With CFG the conditional and unconditional passes are separate rows, so one CFG step of one
    image costs 2 NFEs (1 when cfg is 1.0 and ComfyUI skips the unconditional pass), as the paper
    counts. In a dry run the network is not called: ``dry_prediction`` gives the x0 prediction in its
    place (zeros to count a sampler's calls without their cost), and the caller restores the count.
    """

    def __init__(self) -> None:
        self.count = 0
        self.dry_prediction: Callable[[torch.Tensor], torch.Tensor] | None = None

    def wrapper(self, executor: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.count += int(x.shape[0])
        if self.dry_prediction is not None:
            return self.dry_prediction(x)
        return executor(x, *args, **kwargs)

    def add_to(self, model_options: dict) -> None:
        comfy.patcher_extension.add_wrapper_with_key(
            comfy.patcher_extension.WrappersMP.APPLY_MODEL, NFE_COUNTER_KEY, self.wrapper, model_options,
            is_model_options=True,
        )


def counted_guider(guider: Any, counter: NFECounter) -> Any:
    """A copy of a guider whose model calls are counted; the user's guider and model are untouched."""
    counted = copy.copy(guider)
    counted.model_options = comfy.model_patcher.create_model_options_clone(guider.model_options)
    counter.add_to(counted.model_options)
    return counted


def draws_noise_per_call(sampler: Any) -> bool:
    """Whether the sampler draws fresh noise from the call's seed (ancestral, SDE or unknown samplers)."""
    if not isinstance(sampler, comfy.samplers.KSAMPLER):
        return True
    return "noise_sampler" in inspect.signature(sampler.sampler_function).parameters


class ContinuingSampler(comfy.samplers.Sampler):
    """A KSAMPLER that starts from the states an earlier segment stopped at.

    ComfyUI's ``KSAMPLER.sample`` starts at ``noise_scaling(sigma_0, noise, latent_image)`` and, under a
    noise mask, has KSamplerX0Inpaint feed the model the source ``latent_image`` noised with the same
    ``noise`` outside the mask at every step. Called with a candidate's initial noise and the source
    latent, this sampler runs that same code and changes one thing: the sampler starts from the
    candidate's state, so the masked region continues where it was while the rest stays on the
    source's own trajectory, exactly as one uninterrupted masked KSampler run would have it. Inpainting
    models read the source latent for their masked-image input, as in that run.
    """

    def __init__(self, sampler: comfy.samplers.KSAMPLER, states: torch.Tensor) -> None:
        self.sampler = sampler
        self.states = states

    def sample(
        self, model_wrap: Any, sigmas: torch.Tensor, extra_args: dict, callback: Any, noise: torch.Tensor,
        latent_image: torch.Tensor | None = None, denoise_mask: torch.Tensor | None = None, disable_pbar: bool = False,
    ) -> torch.Tensor:
        model = model_wrap.inner_model
        states = model.process_latent_in(self.states.to(device=noise.device, dtype=noise.dtype))
        start = model.model_sampling.noise_scaling(sigmas[0], torch.zeros_like(states), states)
        function = self.sampler.sampler_function

        @functools.wraps(function)
        def from_states(model_k: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            return function(model_k, start, *args, **kwargs)

        ksampler = comfy.samplers.KSAMPLER(from_states, self.sampler.extra_options, self.sampler.inpaint_options)
        return ksampler.sample(model_wrap, sigmas, extra_args, callback, noise, latent_image, denoise_mask, disable_pbar)


class ComfyDenoiser:
    """Samples slices of one sigma schedule with a ComfyUI guider, as KSampler/SamplerCustomAdvanced do.

    States between slices are kept in ComfyUI's latent convention (what a KSamplerAdvanced run that
    stops early returns). A KSAMPLER continues from one through :class:`ContinuingSampler`, given the
    row's initial noise and the source latent, so img2img and a noise mask (inpainting) continue as
    one KSampler run would; another SAMPLER continues with zero noise from the state as its latent, as
    two chained KSamplerAdvanced nodes work, which a noise mask cannot follow (refused).
    """

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
        probe_level: float | None = None,
    ) -> None:
        self.guider = guider
        self.sampler = sampler
        self.sigmas = sigmas
        self.latent_image = latent_image
        self.noise_mask = noise_mask
        self._sampler_continues_masks = isinstance(sampler, comfy.samplers.KSAMPLER)
        self.batch_index = list(batch_index) if batch_index is not None else None
        self.on_step = on_step
        self._counter = counter
        self.stochastic = draws_noise_per_call(sampler)
        """Whether the sampler draws fresh noise from each call's seed (ancestral, SDE or unknown samplers)."""
        self._dry_run_costs: dict[tuple[int, int], int] = {}
        self._row_noise_kinds: dict[tuple[int, int], RowNoiseKind | None] = {}
        model = guider.model_patcher.model
        self._process_latent_in = model.process_latent_in
        self._process_latent_out = model.process_latent_out
        self._model_sampling = guider.model_patcher.get_model_object("model_sampling")
        self.probe_index = None if probe_level is None else self.step_nearest(probe_level)

    @property
    def nfes(self) -> int:
        return self._counter.count

    @property
    def steps(self) -> int:
        return len(self.sigmas) - 1

    def initial_noise(self, seed: int) -> torch.Tensor:
        return comfy.sample.prepare_noise(self.latent_image, seed, self.batch_index)

    def denoise(
        self, states: torch.Tensor, sampler_seeds: Sequence[int], start: int = 0, stop: int | None = None,
        initial_noises: torch.Tensor | None = None,
    ) -> Denoised:
        """A stochastic sampler gives each row its own noise stream (see :mod:`row_noise`), so a batch of candidates
        gets what each seed gets alone; where no stream fits the sampler, one candidate per sampler call."""
        stop = self.steps if stop is None else stop
        if start > 0 and (initial_noises is None or initial_noises.shape != states.shape):
            raise ValueError(f"a segment from step {start} needs each row's initial noise, shaped like the states")
        if not self.stochastic or len(sampler_seeds) == 1:
            return self._sample(states, self.sampler, sampler_seeds[0], start, stop, self.on_step, initial_noises)
        kind = self.row_noise_kind(start, stop)
        if kind is not None:
            sampler = with_row_noise(self.sampler, sampler_seeds, kind)
            return self._sample(states, sampler, sampler_seeds[0], start, stop, self.on_step, initial_noises)
        parts = [
            self.denoise(states[i : i + 1], [seed], start, stop, None if start == 0 else initial_noises[i : i + 1])
            for i, seed in enumerate(sampler_seeds)
        ]
        probes = [p.probe for p in parts]
        return Denoised(
            torch.cat([p.states for p in parts]), torch.cat([p.x0 for p in parts]),
            None if any(p is None for p in probes) else torch.cat(probes),
        )

    def row_noise_kind(self, start: int, stop: int) -> RowNoiseKind | None:
        """The per-row noise this sampler draws for steps start..stop, or None when none reproduces it.

        Calibrated in dry runs where every x0 prediction is the step's input, so each step's noise stays in the
        output: a batch of two rows with per-row noise must equal, bit for bit, each row sampled alone with the
        sampler unchanged.
        """
        if (start, stop) not in self._row_noise_kinds:
            self._row_noise_kinds[(start, stop)] = self._calibrate_row_noise(start, stop) if takes_row_noise(self.sampler) else None
        return self._row_noise_kinds[(start, stop)]

    def _calibrate_row_noise(self, start: int, stop: int) -> RowNoiseKind | None:
        seeds = CALIBRATION_SEEDS
        states = torch.zeros((len(seeds), *self.latent_image.shape[1:]), dtype=self.latent_image.dtype)
        with self._dry_run(torch.clone):
            alone = torch.cat([self._sample(states[:1], self.sampler, seed, start, stop, None, states[:1]).states
                               for seed in seeds])
            for kind in ROW_NOISE_KINDS:
                sampler = with_row_noise(self.sampler, seeds, kind)
                if torch.equal(self._sample(states, sampler, seeds[0], start, stop, None, states).states, alone):
                    return kind
        return None

    @contextlib.contextmanager
    def _dry_run(self, prediction: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
        """Sampler calls in which the network returns ``prediction(x)`` and no NFEs are counted."""
        before = self._counter.count
        self._counter.dry_prediction = prediction
        try:
            yield
        finally:
            self._counter.dry_prediction = None
            self._counter.count = before

    def _sample(
        self, states: torch.Tensor, sampler: Any, seed: int, start: int, stop: int, on_step: StepCallback | None,
        initial_noises: torch.Tensor | None = None,
    ) -> Denoised:
        latent = self.latent_image.repeat(states.shape[0], *([1] * (states.ndim - 1)))
        if start == 0:
            noise = states
        elif self._sampler_continues_masks:
            noise, sampler = initial_noises, ContinuingSampler(sampler, states)
        elif self.noise_mask is None:
            noise, latent = torch.zeros_like(states), states
        else:
            raise SearchConfigError(
                "sampler", f"is a {type(self.sampler).__name__}, which cannot continue from an intermediate state under "
                "latent_image's noise mask, as search over paths, FK steering and pruned random search do. Use a "
                "sampler from KSamplerSelect (or another ComfyUI KSAMPLER), or Random Search or Zero-Order Search",
            )
        last_x0: list[torch.Tensor] = []
        probe: list[torch.Tensor] = []

        def callback(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
            last_x0[:] = [x0]
            if start + step == self.probe_index:
                probe[:] = [x0]
            if on_step is not None:
                on_step(x0)

        samples = self.guider.sample(
            noise, latent, sampler, self.sigmas[start : stop + 1], denoise_mask=self.noise_mask,
            callback=callback, disable_pbar=True, seed=seed,
        )
        device = comfy.model_management.intermediate_device()
        x0 = self._process_latent_out(last_x0[0].float()) if last_x0 else samples
        probed = self._process_latent_out(probe[0].float()).to(device) if probe else None
        return Denoised(states=samples.to(device), x0=x0.to(device), probe=probed)

    def renoise(
        self, states: torch.Tensor, start: int, to: int, noise: torch.Tensor, initial_noises: torch.Tensor
    ) -> torch.Tensor:
        """Forward-noise with the model's own ``noise_scaling`` (EPS, V, flow/CONST alike).

        Under a noise mask only the masked region takes the fresh noise; outside it each row is put
        back on the source's trajectory, the source latent noised with the row's initial noise, which
        is what KSamplerX0Inpaint feeds the model there (``noise_scaling(sigma, noise, latent_image)``).
        """
        scaled = self._process_latent_in(states)
        level_from, level_to = self.ve_level(start), self.ve_level(to)
        renoised = renoise_variance_exploding(scaled, level_from, level_to, noise.to(scaled))
        if self.noise_mask is not None:
            mask = comfy.sampler_helpers.prepare_mask(self.noise_mask, renoised.shape, renoised.device).to(renoised)
            on_source = self._source_in().to(renoised) + level_to * initial_noises.to(renoised)
            renoised = renoised * mask + on_source * (1.0 - mask)
        return self._process_latent_out(renoised)

    def _source_in(self) -> torch.Tensor:
        """The source latent as the model samples it: CFGGuider.inner_sample shifts it in unless it is all zeros."""
        if torch.count_nonzero(self.latent_image) > 0:
            return self._process_latent_in(self.latent_image)
        return self.latent_image

    def ve_level(self, index: int) -> float:
        """``b(sigma) / a(sigma)`` for the model's ``x = a·x0 + b·noise``, read off its own noise_scaling."""
        sigma = self.sigmas[index].reshape(1).float().cpu()
        ones, zeros = torch.ones((1, 1, 1, 1)), torch.zeros((1, 1, 1, 1))
        signal = float(self._model_sampling.noise_scaling(sigma, zeros, ones, max_denoise=False).reshape(-1)[0])
        noise = float(self._model_sampling.noise_scaling(sigma, ones, zeros, max_denoise=False).reshape(-1)[0])
        return noise / signal if signal > 0 else math.inf

    def step_nearest(self, probe_level: float) -> int:
        """The step whose noise level is nearest ``probe_level``: t of the interpolant (1 - t)·x0 + t·noise.

        t = 0.4 (the paper's choice for SiT) is the variance-exploding level t / (1 - t) = 0.67, which
        each model reaches at its own sigma: 0.67 for EPS models, 0.4 for flow models.
        """
        if not 0.0 < probe_level < 1.0:
            raise ValueError(f"probe_level is {probe_level}; choose a noise level t between 0 and 1 (e.g. 0.4)")
        target = math.log(probe_level / (1.0 - probe_level))
        distances = [abs(math.log(max(self.ve_level(i), 1e-12)) - target) for i in range(self.steps)]  # inf at pure noise
        return min(range(self.steps), key=distances.__getitem__)

    def dry_run_nfes(self, start: int, stop: int) -> int:
        """One row's NFEs for steps start..stop: the sampler runs with the network returning zeros."""
        if (start, stop) not in self._dry_run_costs:
            with self._dry_run(torch.zeros_like):
                before = self._counter.count
                zeros = torch.zeros_like(self.latent_image)
                self._sample(zeros, self.sampler, 0, start, stop, None, zeros)
                self._dry_run_costs[(start, stop)] = self._counter.count - before
        return self._dry_run_costs[(start, stop)]
