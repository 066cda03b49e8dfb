"""The self-supervised verifier in a workflow: the probe comes from sampling, at no extra NFEs."""

from __future__ import annotations

import json

import pytest
import torch

from headless.workflow_runner import WorkflowFailed

SAMPLER = "7"


def self_supervised_workflow(comfyui, **algorithm_inputs):
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchSelfSupervisedVerifierLoader",
                   "inputs": {"weights": "noise_search_tiny_clip", "architecture": "auto", "download": False, "probe_level": 0.4}}
    prompt["7"]["inputs"]["verifier_text"] = ""
    prompt["6"]["inputs"].update(algorithm_inputs)
    return prompt


def test_it_scores_without_a_prompt_and_without_extra_nfes(comfyui):
    run = comfyui.run(self_supervised_workflow(comfyui, num_candidates=4, batch_size=2))
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["verifier"] == "self-supervised"
    assert report["nfes"]["search"] == 4 * 6 * 2  # exactly what the search costs with any other verifier
    scores = [c["score"] for c in report["candidates"]]
    assert len(scores) == 4 and all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in scores)


def test_with_search_over_paths_it_says_which_algorithms_work(comfyui):
    prompt = self_supervised_workflow(comfyui)
    prompt["6"] = {"class_type": "NoiseSearchPathsSearch", "inputs": {
        "num_paths": 1, "branches": 2, "start_step": 2, "forward_steps": 1, "backward_steps": 2, "batch_size": 1,
        "max_nfes": 0}}
    with pytest.raises(WorkflowFailed, match="Noise Search Sampler: .*random or zero-order"):
        comfyui.run(prompt)


@pytest.mark.parametrize("model_sampling, expected_sigma", [(None, 0.667), ("flow", 0.4)])
def test_the_probe_level_means_the_same_noise_for_eps_and_flow_models(comfyui, model_sampling, expected_sigma):
    import sys

    import comfy.samplers

    module = next(m for name, m in sys.modules.items() if name.endswith(".nodes.comfy_sampling"))
    prompt = comfyui.workflow()
    prompt["6"]["inputs"]["num_candidates"] = 1
    if model_sampling == "flow":
        prompt["10"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 1.0}}
        prompt["7"]["inputs"]["model"] = ["10", 0]
    run = comfyui.run(prompt)
    model = run.outputs("10" if model_sampling else "1")[0]
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 200)
    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(run.outputs("2")[0], run.outputs("3")[0])
    guider.set_cfg(4.0)
    denoiser = module.ComfyDenoiser(guider, comfy.samplers.sampler_object("euler"), sigmas,
                                    torch.zeros((1, 4, 8, 8)), module.NFECounter(), probe_level=0.4)
    assert float(sigmas[denoiser.probe_index]) == pytest.approx(expected_sigma, abs=0.02)
    short = module.ComfyDenoiser(denoiser.guider, denoiser.sampler, sigmas[::20], denoiser.latent_image,
                                 module.NFECounter(), probe_level=0.4)
    denoised = short.denoise(short.initial_noise(3), [3])
    assert denoised.probe is not None and denoised.probe.shape == denoised.states.shape
    assert not torch.equal(denoised.probe, denoised.states)
