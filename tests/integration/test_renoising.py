"""Re-noising uses each model's own noise_scaling: EPS, V-prediction and flow (CONST) alike."""

from __future__ import annotations

import pytest
import torch

MODEL_SAMPLING_NODES = {
    "eps": None,
    "v_prediction": {"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["1", 0], "sampling": "v_prediction",
                                                                       "zsnr": False}},
    "flow": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 3.0}},
}


def patched_model(comfyui, kind: str):
    prompt = comfyui.workflow()
    node = MODEL_SAMPLING_NODES[kind]
    if node is not None:
        prompt["10"] = node
        prompt["7"]["inputs"]["model"] = ["10", 0]
    prompt["6"]["inputs"]["num_candidates"] = 1
    run = comfyui.run(prompt)
    return run.outputs("10")[0] if node is not None else run.outputs("1")[0]


@pytest.fixture(scope="module")
def comfy_denoiser_class(comfyui):
    """The pack's ComfyDenoiser as ComfyUI loaded it (the pack's module name is its folder path)."""
    import sys

    package = next(name for name, module in sys.modules.items()
                   if name.endswith(".nodes.comfy_sampling") and hasattr(module, "ComfyDenoiser"))
    return sys.modules[package].ComfyDenoiser, sys.modules[package].NFECounter


@pytest.mark.parametrize("kind", sorted(MODEL_SAMPLING_NODES))
def test_renoising_a_clean_latent_matches_the_models_noise_scaling(comfyui, comfy_denoiser_class, kind):
    import comfy.samplers

    ComfyDenoiser, NFECounter = comfy_denoiser_class
    model = patched_model(comfyui, kind)
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 8)
    guider = comfy.samplers.CFGGuider(model)
    latent = torch.zeros((1, 4, 8, 8))
    denoiser = ComfyDenoiser(guider, comfy.samplers.sampler_object("euler"), sigmas, latent, NFECounter())
    generator = torch.Generator().manual_seed(0)
    clean = torch.randn((1, 4, 8, 8), generator=generator)
    noise = torch.randn((1, 4, 8, 8), generator=generator)
    model_sampling = model.get_model_object("model_sampling")
    inner = model.model.process_latent_in
    for to in (1, 3, 6):
        renoised = denoiser.renoise(clean, len(sigmas) - 1, to, noise, noise)  # no mask: the initial noise is unused
        sigma = sigmas[to].reshape(1)
        signal = model_sampling.noise_scaling(sigma, torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1), max_denoise=False)
        sampler_state = signal * inner(renoised)  # what the sampler sees continuing from it with zero noise
        expected = model_sampling.noise_scaling(sigma, noise, inner(clean), max_denoise=False)
        torch.testing.assert_close(sampler_state, expected, rtol=1e-5, atol=1e-5)
        if kind == "flow":  # the SD formula x0 + sigma * noise is wrong for a flow model, and the test sees it
            hard_coded = inner(clean) + float(sigma) * noise
            assert not torch.allclose(sampler_state, hard_coded, atol=1e-3)
