"""img2img (denoise < 1) and inpainting (a noise mask) with every algorithm, through ComfyUI's executor.

Outside the mask a search's winner is what KSampler's masked sampling makes from its seed; candidates
that continue mid-schedule keep that region on the source's own trajectory; the winner replays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from headless.ui_workflow import ui_to_api
from tests.integration.test_algorithms import ALGORITHMS, advanced_workflow, unet_rows, with_replay  # noqa: F401 (a fixture)
from tests.integration.test_example_workflows import EXAMPLES_DIR, source_image, with_tiny_models  # noqa: F401
from tests.integration.test_fk_steering import FK_INPUTS
from tests.integration.test_pruned_random import PRUNED
from tests.integration.test_renoising import comfy_denoiser_class, patched_model  # noqa: F401 (a fixture)

SAMPLER, ALGORITHM, SOURCE = "7", "6", "45"
ALGORITHM_NODES = {
    **{name: {"class_type": class_type, "inputs": inputs} for name, (class_type, inputs) in ALGORITHMS.items()},
    "fk_steering": {"class_type": "NoiseSearchFKSteering", "inputs": FK_INPUTS},
    "pruned_random": {"class_type": "NoiseSearchPrunedRandomSearch", "inputs": {**PRUNED, "batch_size": 1}},
}
"""Random, zero-order, paths (re-noising), FK steering (re-noising on euler), pruned random (continuing); one
candidate per sampler call, so replays are bit for bit on the CPU."""
INPAINTING_EXAMPLE = EXAMPLES_DIR / "Noise Search with SD1.5 (inpainting, ImageReward verifier, FK steering).json"
IMG2IMG_EXAMPLE = EXAMPLES_DIR / "Noise Search with SD1.5 (img2img, aesthetic verifier, pruned random search).json"
SAMPLING = ("model", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative", "latent_image", "denoise")


def inpainting(prompt: dict[str, Any], encoder: str = "SetLatentNoiseMask") -> dict[str, Any]:
    """A 64 px source image with a 32 px square to repaint, by Set Latent Noise Mask or VAE Encode for Inpainting."""
    prompt["40"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x3366AA}}
    prompt["41"] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 64, "height": 64}}
    prompt["42"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 32, "height": 32}}
    prompt["43"] = {"class_type": "MaskComposite", "inputs": {"destination": ["41", 0], "source": ["42", 0], "x": 16,
                                                              "y": 8, "operation": "add"}}
    if encoder == "SetLatentNoiseMask":
        prompt["44"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["40", 0], "vae": ["1", 2]}}
        prompt[SOURCE] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["44", 0], "mask": ["43", 0]}}
    else:
        prompt[SOURCE] = {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["40", 0], "vae": ["1", 2],
                                                                          "mask": ["43", 0], "grow_mask_by": 0}}
    prompt[SAMPLER]["inputs"]["latent_image"] = [SOURCE, 0]
    return prompt


def with_algorithm(prompt: dict[str, Any], name: str) -> dict[str, Any]:
    prompt[ALGORITHM] = json.loads(json.dumps(ALGORITHM_NODES[name]))
    return prompt


def with_ksampler(prompt: dict[str, Any], seed: int) -> dict[str, Any]:
    """A plain KSampler with the search's settings and ``seed``, on the same latent."""
    settings = {k: v for k, v in prompt[SAMPLER]["inputs"].items() if k in SAMPLING}
    prompt["20"] = {"class_type": "KSampler", "inputs": {**settings, "seed": seed}}
    prompt["21"] = {"class_type": "VAEDecode", "inputs": {"samples": ["20", 0], "vae": ["1", 2]}}
    prompt["22"] = {"class_type": "PreviewImage", "inputs": {"images": ["21", 0]}}
    return prompt


def outside_the_mask(latent: dict[str, Any]) -> torch.Tensor:
    """Where the sampler keeps the source: the mask, as ComfyUI shapes it to the latent, is 0 there."""
    import comfy.utils

    samples = latent["samples"]
    outside = comfy.utils.reshape_mask(latent["noise_mask"], samples.shape) == 0
    assert 0 < int(outside.sum()) < samples.numel()
    return outside


def assert_same(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to float rounding: batched sampler calls round differently from single ones."""
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-3)


def assert_replayed(replayed: torch.Tensor, searched: torch.Tensor) -> None:
    """Bit for bit on the CPU (what CI runs); CUDA kernels only promise float rounding across calls."""
    import comfy.model_management

    if comfy.model_management.get_torch_device().type == "cpu":
        assert torch.equal(replayed, searched)
    else:
        assert_same(replayed, searched)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_NODES))
def test_outside_the_mask_the_winner_is_what_ksampler_makes_from_its_seed_and_it_replays(comfyui, algorithm):
    prompt = with_replay(with_algorithm(inpainting(comfyui.workflow()), algorithm))
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    seed = report["best_recipe"][0]["seed"]
    best = run.outputs(SAMPLER)[0]["samples"]
    plain = comfyui.run(with_ksampler(inpainting(comfyui.workflow()), seed)).outputs("20")[0]["samples"]
    outside = outside_the_mask(run.outputs(SOURCE)[0])
    torch.testing.assert_close(best[outside], plain[outside], rtol=1e-5, atol=1e-5)
    assert_replayed(run.outputs("30")[0]["samples"], best)


@pytest.mark.parametrize("algorithm", ["random", "pruned_random"])
def test_a_candidate_that_continues_is_the_whole_ksampler_image_of_its_seed(comfyui, algorithm):
    """Pruned candidates are sampled in segments; under the mask each still equals one KSampler run."""
    prompt = with_algorithm(inpainting(comfyui.workflow(), "VAEEncodeForInpaint"), algorithm)
    prompt[ALGORITHM]["inputs"]["batch_size"] = 2
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["best_recipe"][0]["seed"] == report["candidates"][report["best_index"]]["seed"]
    plain = comfyui.run(with_ksampler(inpainting(comfyui.workflow(), "VAEEncodeForInpaint"), report["best_recipe"][0]["seed"]))
    assert_same(run.outputs(SAMPLER)[0]["samples"], plain.outputs("20")[0]["samples"])


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_NODES))
def test_img2img_costs_the_steps_it_runs_and_replays(comfyui, unet_rows, algorithm):  # noqa: F811
    executor, rows = unet_rows
    prompt = with_algorithm(inpainting(comfyui.workflow()), algorithm)
    prompt[SAMPLER]["inputs"].update(denoise=0.5, latent_image=["44", 0])  # the encoded image, no mask
    before = rows["count"]
    run = comfyui.run(prompt, executor)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["nfes"]["total"] == rows["count"] - before
    # Denoise 0.5 of 6 steps runs the last 6 steps of a 12-step schedule: 6 steps of 2 NFEs (cfg) for one image.
    assert report["nfes"]["plain_image"] == 6 * 2 and len(report["sampling"]["sigmas"]) == 7
    if algorithm == "random":
        assert report["nfes"]["search"] == 4 * 6 * 2
    replayed = comfyui.run(with_replay(prompt), executor)  # the search itself comes from the executor's cache
    assert_replayed(replayed.outputs("30")[0]["samples"], run.outputs(SAMPLER)[0]["samples"])


@pytest.mark.parametrize("kind", ["eps", "flow"])
def test_renoising_under_a_mask_puts_the_unmasked_region_back_on_the_source_trajectory(comfyui, comfy_denoiser_class, kind):
    import comfy.samplers

    ComfyDenoiser, NFECounter = comfy_denoiser_class
    model = patched_model(comfyui, kind)
    model_sampling = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(model_sampling, "simple", 8)
    generator = torch.Generator().manual_seed(0)
    source, state, initial, fresh = (torch.randn((1, 4, 8, 8), generator=generator) for _ in range(4))
    mask = torch.zeros((1, 8, 8))
    mask[:, :4] = 1.0
    mask[:, 4] = 0.5
    guider, sampler = comfy.samplers.CFGGuider(model), comfy.samplers.sampler_object("euler")
    masked = ComfyDenoiser(guider, sampler, sigmas, source, NFECounter(), noise_mask=mask)
    unmasked = ComfyDenoiser(guider, sampler, sigmas, source, NFECounter())
    inner, sigma = model.model.process_latent_in, sigmas[3].reshape(1)
    signal = model_sampling.noise_scaling(sigma, torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1), max_denoise=False)
    seen = signal * inner(masked.renoise(state, 6, 3, fresh, initial))  # what the sampler continues from
    free = signal * inner(unmasked.renoise(state, 6, 3, fresh, initial))
    on_source = model_sampling.noise_scaling(sigma, initial, inner(source), max_denoise=False)
    weight = mask.unsqueeze(1)
    torch.testing.assert_close(seen, free * weight + on_source * (1 - weight), rtol=1e-5, atol=1e-5)
    assert (seen - free)[..., 5:, :].abs().min() > 0  # the unmasked rows moved off the state's own re-noising


def test_a_flow_models_masked_search_matches_sampler_custom_advanced_and_replays(comfyui):
    prompt = inpainting(advanced_workflow(comfyui, "basic", True, "paths"))
    prompt[ALGORITHM] = json.loads(json.dumps(ALGORITHM_NODES["pruned_random"]))
    prompt["30"] = {"class_type": "NoiseSearchReplayAdvanced", "inputs": {
        "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": [SOURCE, 0],
        "report": [SAMPLER, 3]}}
    prompt["31"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["1", 2]}}
    prompt["32"] = {"class_type": "PreviewImage", "inputs": {"images": ["31", 0]}}
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    plain = {key: value for key, value in prompt.items() if key not in (SAMPLER, ALGORITHM, "5", "8", "9", "30", "31", "32")}
    plain["14"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": report["best_recipe"][0]["seed"]}}
    plain["20"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["14", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": [SOURCE, 0]}}
    plain["21"] = {"class_type": "VAEDecode", "inputs": {"samples": ["20", 0], "vae": ["1", 2]}}
    plain["22"] = {"class_type": "PreviewImage", "inputs": {"images": ["21", 0]}}
    best = run.outputs(SAMPLER)[0]["samples"]
    assert_same(best, comfyui.run(plain).outputs("20")[0]["samples"])
    assert_replayed(run.outputs("30")[0]["samples"], best)


def test_a_sampler_that_is_no_ksampler_cannot_continue_under_a_mask(comfyui, comfy_denoiser_class):
    import comfy.samplers

    ComfyDenoiser, NFECounter = comfy_denoiser_class

    class OwnSampler(comfy.samplers.Sampler):
        """A custom SAMPLER (as custom nodes write them): it runs euler, but is no KSAMPLER."""

        def sample(self, *args, **kwargs):
            return comfy.samplers.sampler_object("euler").sample(*args, **kwargs)

    model = patched_model(comfyui, "eps")
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 4)
    source = torch.zeros((1, 4, 8, 8))
    denoiser = ComfyDenoiser(comfy.samplers.CFGGuider(model), OwnSampler(), sigmas, source, NFECounter(),
                             noise_mask=torch.ones((1, 8, 8)))
    noise = denoiser.initial_noise(1)
    half = denoiser.denoise(noise, [1], 0, 2).states
    with pytest.raises(Exception, match="sampler: is a OwnSampler, which cannot continue from an intermediate state"):
        denoiser.denoise(half, [1], 2, initial_noises=noise)


@pytest.mark.parametrize("example", [INPAINTING_EXAMPLE, IMG2IMG_EXAMPLE], ids=["inpainting", "img2img"])
def test_the_example_runs_on_tiny_models(comfyui, source_image, example):  # noqa: F811
    prompt = with_tiny_models(ui_to_api(json.loads(example.read_text()), comfyui.nodes.NODE_CLASS_MAPPINGS))
    sampler = next(node_id for node_id, node in prompt.items() if node["class_type"] == "NoiseSearchSampler")
    algorithm = prompt[sampler]["inputs"]["algorithm"][0]
    encoder = prompt[sampler]["inputs"]["latent_image"][0]
    prompt[sampler]["inputs"]["steps"] = 6
    prompt[algorithm]["inputs"].update(SMALLER[prompt[algorithm]["class_type"]])
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(sampler)[3])
    assert report["sampling"]["settings"]["denoise"] == (1.0 if example == INPAINTING_EXAMPLE else 0.6)
    source = run.outputs(encoder)[0]
    best = run.outputs(sampler)[0]["samples"]
    if "noise_mask" in source:
        outside = outside_the_mask(source)
        torch.testing.assert_close(best[outside], source["samples"][outside], rtol=1e-5, atol=1e-5)
    assert_same(replay_of(comfyui, prompt, sampler), best)  # batched as in the example: equal up to rounding


SMALLER = {
    "NoiseSearchFKSteering": {"num_particles": 3, "start_step": 2, "interval": 2},
    "NoiseSearchPrunedRandomSearch": {"num_candidates": 4},
}
"""The examples' algorithms at sizes that run in seconds on 6 steps."""


def replay_of(comfyui, prompt: dict[str, Any], sampler: str) -> torch.Tensor:
    """The Replay node's latent for the search in ``prompt`` (answered from the executor's cache but for the replay)."""
    settings = {k: v for k, v in prompt[sampler]["inputs"].items() if k in (*SAMPLING, "seed")}
    replay_prompt = {**prompt, "50": {"class_type": "NoiseSearchReplay", "inputs": {**settings, "report": [sampler, 3]}}}
    replay_prompt["51"] = {"class_type": "VAEDecode", "inputs": {"samples": ["50", 0], "vae": prompt[sampler]["inputs"]["vae"]}}
    replay_prompt["52"] = {"class_type": "PreviewImage", "inputs": {"images": ["51", 0]}}
    return comfyui.run(replay_prompt).outputs("50")[0]["samples"]


@pytest.fixture(scope="module")
def inpainting_checkpoint(comfyui) -> str:
    """A tiny SD1.5 inpainting checkpoint: its UNet takes 9 channels (latent, mask, masked image), as sd-v1-5-inpainting."""
    import folder_paths

    from headless import tiny_models

    name = "noise_search_tiny_sd15_inpainting.safetensors"
    config = tiny_models.register_tiny_models()({**tiny_models.TINY_UNET_CONFIG, "in_channels": 9})
    tiny_models.save_sd15_shaped_checkpoint(Path(folder_paths.models_dir) / "checkpoints" / name, config, torch.float32, 3)
    return name


@pytest.mark.parametrize("algorithm", ["pruned_random", "paths"])
def test_an_inpainting_checkpoint_sees_the_source_as_its_masked_image_in_every_segment(comfyui, inpainting_checkpoint,
                                                                                        algorithm):
    def workflow() -> dict[str, Any]:
        prompt = inpainting(comfyui.workflow(), "VAEEncodeForInpaint")
        prompt["1"]["inputs"]["ckpt_name"] = inpainting_checkpoint
        return prompt

    run = comfyui.run(with_replay(with_algorithm(workflow(), algorithm)))
    assert run.outputs("1")[0].model.concat_keys == ("mask", "masked_image")
    report = json.loads(run.outputs(SAMPLER)[3])
    best = run.outputs(SAMPLER)[0]["samples"]
    plain = comfyui.run(with_ksampler(workflow(), report["best_recipe"][0]["seed"])).outputs("20")[0]["samples"]
    if algorithm == "pruned_random":  # a survivor, sampled in three segments, is KSampler's image of its seed
        assert_same(best, plain)
    outside = outside_the_mask(run.outputs(SOURCE)[0])
    torch.testing.assert_close(best[outside], plain[outside], rtol=1e-5, atol=1e-5)
    assert_replayed(run.outputs("30")[0]["samples"], best)


def test_img2img_under_a_mask_searched_at_fewer_steps_renders_what_ksampler_makes_from_the_winning_seed(comfyui):
    prompt = with_algorithm(inpainting(comfyui.workflow()), "random")
    prompt[ALGORITHM]["inputs"].update(search_steps=3, batch_size=2)
    prompt[SAMPLER]["inputs"]["denoise"] = 0.5
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["nfes"] == {"search": 4 * 3 * 2, "render": 6 * 2, "total": 4 * 3 * 2 + 6 * 2, "plain_image": 6 * 2}
    reference = inpainting(comfyui.workflow())
    reference[SAMPLER]["inputs"]["denoise"] = 0.5
    plain = comfyui.run(with_ksampler(reference, report["best_recipe"][0]["seed"]))
    assert_same(run.outputs(SAMPLER)[0]["samples"], plain.outputs("20")[0]["samples"])


def test_fk_steering_with_an_ancestral_sampler_keeps_the_source_outside_the_mask_and_replays(comfyui):
    """Its particles part ways by the sampler's own noise, continuing each segment under the mask."""
    prompt = with_replay(with_algorithm(inpainting(comfyui.workflow()), "fk_steering"))
    prompt[SAMPLER]["inputs"]["sampler_name"] = prompt["30"]["inputs"]["sampler_name"] = "euler_ancestral"
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["parameters"]["transition"] == "sampler noise"
    best = run.outputs(SAMPLER)[0]["samples"]
    outside = outside_the_mask(run.outputs(SOURCE)[0])
    torch.testing.assert_close(best[outside], run.outputs("44")[0]["samples"][outside], rtol=1e-5, atol=1e-5)
    assert_replayed(run.outputs("30")[0]["samples"], best)
