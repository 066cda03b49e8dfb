"""Ancestral and SDE samplers sample a batch of candidates in one call, each row as its own seed gives it alone."""

from __future__ import annotations

import sys

import pytest
import torch

STOCHASTIC_SAMPLERS = ["euler_ancestral", "dpmpp_2s_ancestral", "lcm", "er_sde", "dpmpp_sde", "dpmpp_2m_sde",
                       "dpmpp_3m_sde", "dpmpp_2m_sde_gpu"]
SEEDS = [5, 6, 7]
STEPS = 6


@pytest.fixture(scope="module")
def sampling(comfyui):
    """The pack's comfy_sampling module as ComfyUI loaded it (the pack's module name is its folder path)."""
    return next(module for name, module in sys.modules.items()
                if name.endswith(".nodes.comfy_sampling") and hasattr(module, "ComfyDenoiser"))


@pytest.fixture(scope="module")
def model_conds_latent(comfyui):
    prompt = comfyui.workflow()
    prompt["6"]["inputs"]["num_candidates"] = 1
    run = comfyui.run(prompt)
    return run.outputs("1")[0], run.outputs("2")[0], run.outputs("3")[0], run.outputs("4")[0]["samples"]


@pytest.fixture
def make_denoiser(sampling, model_conds_latent):
    import comfy.samplers

    model, positive, negative, latent = model_conds_latent

    class RowsPerCall(sampling.NFECounter):
        """Counts NFEs as the pack does, and records the rows of every network call."""

        def __init__(self) -> None:
            super().__init__()
            self.rows_per_call: list[int] = []

        def wrapper(self, executor, x, *args, **kwargs):
            if self.dry_prediction is None:
                self.rows_per_call.append(int(x.shape[0]))
            return super().wrapper(executor, x, *args, **kwargs)

    def make(sampler):
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(5.0)
        counter = RowsPerCall()
        sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", STEPS)
        sampler = comfy.samplers.sampler_object(sampler) if isinstance(sampler, str) else sampler
        return sampling.ComfyDenoiser(sampling.counted_guider(guider, counter), sampler, sigmas, latent, counter), counter

    return make


def noises(denoiser) -> torch.Tensor:
    return torch.cat([denoiser.initial_noise(seed) for seed in SEEDS])


@pytest.mark.parametrize("sampler_name", STOCHASTIC_SAMPLERS)
def test_a_batch_gives_each_row_what_its_seed_gives_alone(make_denoiser, sampler_name):
    denoiser, counter = make_denoiser(sampler_name)
    assert denoiser.stochastic and denoiser.row_noise_kind(0, STEPS) is not None
    batched = denoiser.denoise(noises(denoiser), SEEDS)
    assert max(counter.rows_per_call) == 2 * len(SEEDS)  # the cond and uncond rows of all three, in one call
    alone = torch.cat([denoiser.denoise(noise[None], [seed]).states for noise, seed in zip(noises(denoiser), SEEDS)])
    torch.testing.assert_close(batched.states, alone, rtol=1e-3, atol=1e-3)  # float rounding of batched matmuls
    shared_seed = denoiser.denoise(noises(denoiser), [SEEDS[0]] * len(SEEDS)).states
    assert not torch.allclose(shared_seed, batched.states, atol=1e-3)  # the rows' own seeds did drive their noise


def test_a_continued_segment_gives_each_row_its_own_noise_too(make_denoiser):
    """Search over paths and FK steering continue states from mid-schedule with a fresh sampler seed per row."""
    denoiser, _ = make_denoiser("dpmpp_2m_sde")
    initial = noises(denoiser)
    states = denoiser.denoise(initial, SEEDS, 0, 2).states
    batched = denoiser.denoise(states, [21, 22, 23], 2, STEPS, initial).states
    alone = torch.cat([denoiser.denoise(states[i : i + 1], [seed], 2, STEPS, initial[i : i + 1]).states
                       for i, seed in enumerate([21, 22, 23])])
    torch.testing.assert_close(batched, alone, rtol=1e-3, atol=1e-3)  # float rounding of batched matmuls


def test_a_sampler_that_ignores_the_noise_sampler_runs_one_candidate_per_call(make_denoiser):
    """Calibration finds no per-row noise that reproduces it, so nothing is batched and nothing differs."""
    import comfy.k_diffusion.sampling as k_sampling
    import comfy.samplers

    def own_noise_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
        generator = torch.Generator().manual_seed(7 * extra_args["seed"] + 1)

        def batch_noise(sigma, sigma_next):
            return torch.randn(x.shape, generator=generator)

        return k_sampling.sample_euler_ancestral(model, x, sigmas, extra_args, callback, disable, noise_sampler=batch_noise)

    denoiser, counter = make_denoiser(comfy.samplers.KSAMPLER(own_noise_ancestral))
    assert denoiser.row_noise_kind(0, STEPS) is None
    batched = denoiser.denoise(noises(denoiser), SEEDS).states
    assert max(counter.rows_per_call) == 2
    alone = torch.cat([denoiser.denoise(noise[None], [seed]).states for noise, seed in zip(noises(denoiser), SEEDS)])
    assert torch.equal(batched, alone)


def test_calibration_costs_no_nfes(make_denoiser):
    denoiser, counter = make_denoiser("euler_ancestral")
    denoiser.row_noise_kind(0, STEPS)
    assert denoiser.nfes == 0 and counter.rows_per_call == []
