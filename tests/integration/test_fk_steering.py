"""FK steering through ComfyUI's executor: the tiny SD1.5 model, a flow model and the demo digit model,
with an ODE sampler (re-noise transitions) and an ancestral one (the sampler's own noise)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from headless.workflow_runner import WorkflowFailed, WorkflowInvalid

SAMPLER, ALGORITHM = "7", "6"
FK_INPUTS = {"num_particles": 3, "potential": "max", "lambda": 10.0, "start_step": 2, "interval": 2,
             "ess_threshold": 1.0, "renoise_steps": 1, "batch_size": 1, "max_nfes": 0}
SAMPLING = ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative", "latent_image", "denoise")


def fk_workflow(comfyui, sampler_name: str = "euler", **overrides: Any) -> dict[str, Any]:
    """The tiny SD1.5 search workflow (6 steps, cfg 5: 2 NFEs a step) with FK steering as its algorithm."""
    prompt = comfyui.workflow()
    prompt[ALGORITHM] = {"class_type": "NoiseSearchFKSteering", "inputs": {**FK_INPUTS, **overrides}}
    prompt[SAMPLER]["inputs"]["sampler_name"] = sampler_name
    return prompt


def digits_workflow(sampler_name: str, **overrides: Any) -> dict[str, Any]:
    """The demo digit model (V-prediction, pixel space), 8 karras steps, cfg 3, its class-logit verifier."""
    return {
        "1": {"class_type": "NoiseSearchDemoModelLoader", "inputs": {}},
        "2": {"class_type": "NoiseSearchDemoDigit", "inputs": {"digit": 3}},
        "3": {"class_type": "NoiseSearchDemoDigitVerifierLoader", "inputs": {"kind": "class logit", "probe_level": 0.4}},
        ALGORITHM: {"class_type": "NoiseSearchFKSteering", "inputs": {**FK_INPUTS, "num_particles": 4, **overrides}},
        SAMPLER: {"class_type": "NoiseSearchSampler", "inputs": {
            "model": ["1", 0], "seed": 5, "steps": 8, "cfg": 3.0, "sampler_name": sampler_name, "scheduler": "karras",
            "positive": ["2", 0], "negative": ["2", 1], "latent_image": ["2", 2], "denoise": 1.0,
            "vae": ["1", 1], "verifier": ["3", 0], "algorithm": [ALGORITHM, 0], "verifier_text": "3"}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER, 0], "vae": ["1", 1]}},
        "9": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
    }


def with_replay(prompt: dict[str, Any], vae: list) -> dict[str, Any]:
    settings = {k: v for k, v in prompt[SAMPLER]["inputs"].items() if k in SAMPLING}
    prompt["30"] = {"class_type": "NoiseSearchReplay", "inputs": {**settings, "report": [SAMPLER, 3]}}
    prompt["31"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": vae}}
    prompt["32"] = {"class_type": "PreviewImage", "inputs": {"images": ["31", 0]}}
    return prompt


def assert_replayed(run) -> None:
    """Bit for bit on the CPU (what CI runs); CUDA kernels only promise float rounding across calls."""
    import comfy.model_management

    replayed, searched = run.outputs("30")[0]["samples"], run.outputs(SAMPLER)[0]["samples"]
    if comfy.model_management.get_torch_device().type == "cpu":
        assert torch.equal(replayed, searched)
    else:
        torch.testing.assert_close(replayed, searched, rtol=1e-4, atol=1e-3)


@pytest.fixture(scope="module")
def unet_rows(comfyui):
    """Rows the tiny UNet's forward pass has seen, counted by a hook on the module itself."""
    from headless import workflow_runner

    executor = workflow_runner.new_executor()
    unet = comfyui.run(fk_workflow(comfyui, num_particles=2), executor).outputs("1")[0].model.diffusion_model
    rows = {"count": 0}
    handle = unet.register_forward_hook(lambda module, args, output: rows.__setitem__("count", rows["count"] + args[0].shape[0]))
    yield executor, rows
    handle.remove()


# 3 particles; segments 0->2, 2->4, 4->6; euler re-noises each later segment 1 step back; 2 NFEs a step
@pytest.mark.parametrize("sampler_name, steps_per_particle, transition", [
    ("euler", 2 + 3 + 3, "re-noise 1 steps back"), ("euler_ancestral", 2 + 2 + 2, "sampler noise"),
])
def test_nfes_are_the_networks_rows_and_the_transition_fits_the_sampler(
    comfyui, unet_rows, sampler_name, steps_per_particle, transition
):
    executor, rows = unet_rows
    before = rows["count"]
    report = json.loads(comfyui.run(fk_workflow(comfyui, sampler_name), executor).outputs(SAMPLER)[3])
    assert report["nfes"]["search"] == report["nfes"]["total"] == rows["count"] - before == 3 * steps_per_particle * 2
    assert report["algorithm"] == "FK steering" and report["parameters"]["transition"] == transition
    assert [step["step"] for step in report["resampling"]] == [2, 4]
    assert all(len(step["ancestors"]) == 3 and step["ess"] <= 3 + 1e-9 for step in report["resampling"])


def test_max_nfes_lowers_the_particles_and_is_never_exceeded(comfyui, unet_rows):
    executor, rows = unet_rows
    before = rows["count"]
    report = json.loads(comfyui.run(fk_workflow(comfyui, num_particles=4, max_nfes=60), executor).outputs(SAMPLER)[3])
    assert report["parameters"]["particles_run"] == 3  # 16 NFEs a particle
    assert report["nfes"]["search"] == rows["count"] - before == 48


@pytest.mark.parametrize("sampler_name", ["euler", "euler_ancestral"])
def test_the_replay_node_remakes_the_winner_and_ancestry_is_reported(comfyui, sampler_name):
    run = comfyui.run(with_replay(fk_workflow(comfyui, sampler_name, num_particles=4, batch_size=1), ["1", 2]))
    assert_replayed(run)
    report = json.loads(run.outputs(SAMPLER)[3])
    candidates = report["candidates"]
    for step in report["resampling"]:
        scored = [c for c in candidates if c["round"] == step["round"]]
        following = [c for c in candidates if c["round"] == step["round"] + 1]
        assert [c["parent"] for c in following] == [scored[a]["index"] for a in step["ancestors"]]
    winner = candidates[report["best_index"]]
    assert winner["final"] and report["best_recipe"] == winner["recipe"]


def test_a_flow_model_with_euler_replays_through_the_advanced_nodes(comfyui):
    prompt = fk_workflow(comfyui)
    prompt["10"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 3.0}}
    prompt["11"] = {"class_type": "BasicGuider", "inputs": {"model": ["10", 0], "conditioning": ["2", 0]}}
    prompt["12"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}
    prompt["13"] = {"class_type": "BasicScheduler", "inputs": {"model": ["10", 0], "scheduler": "simple", "steps": 5,
                                                               "denoise": 1.0}}
    prompt["14"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 77}}
    prompt[SAMPLER] = {"class_type": "NoiseSearchSamplerAdvanced", "inputs": {
        "noise": ["14", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0],
        "vae": ["1", 2], "verifier": ["5", 0], "algorithm": [ALGORITHM, 0], "verifier_text": "a red apple"}}
    prompt["30"] = {"class_type": "NoiseSearchReplayAdvanced", "inputs": {
        "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0], "report": [SAMPLER, 3]}}
    prompt["31"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["1", 2]}}
    prompt["32"] = {"class_type": "PreviewImage", "inputs": {"images": ["31", 0]}}
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["nfes"]["search"] == 3 * (2 + 3 + 2)  # 5 steps: 0->2, 2->4 (from 1), 4->5 (from 3); 1 NFE a step
    assert any(op["op"] == "renoise" for op in report["best_recipe"])
    assert_replayed(run)


@pytest.mark.parametrize("sampler_name, steps_per_particle", [("euler", 2 + 3 + 3 + 3), ("euler_ancestral", 8)])
def test_on_the_demo_digit_model_the_count_is_exact_and_the_winner_replays(comfyui, sampler_name, steps_per_particle):
    run = comfyui.run(with_replay(digits_workflow(sampler_name), ["1", 1]))
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["nfes"]["search"] == 4 * steps_per_particle * 2
    assert [step["step"] for step in report["resampling"]] == [2, 4, 6]
    assert report["best_score"] == max(c["score"] for c in report["candidates"] if c["final"])
    assert_replayed(run)


@pytest.mark.parametrize("overrides, message", [
    ({"start_step": 6}, "Noise Search Sampler: start_step: is 6, outside the schedule of 6 steps"),
    ({"start_step": 1}, "Noise Search Sampler: start_step: is 1, .*re-noised renoise_steps \\(1\\) back"),
    ({"max_nfes": 20}, "Noise Search Sampler: max_nfes: is 20, but the smallest run \\(2 particles\\) costs 32 NFEs"),
])
def test_bad_inputs_fail_naming_the_node_and_the_input(comfyui, overrides, message):
    with pytest.raises(WorkflowFailed, match=message):
        comfyui.run(fk_workflow(comfyui, **overrides))


@pytest.mark.parametrize("name, value", [("num_particles", 1), ("interval", 0), ("ess_threshold", 1.5),
                                         ("ess_threshold", 0.0), ("lambda", 0.0)])
def test_inputs_outside_their_ranges_are_refused_by_validation_naming_them(comfyui, name, value):
    with pytest.raises(WorkflowInvalid, match=name):
        comfyui.run(fk_workflow(comfyui, **{name: value}))


def test_an_unknown_potential_is_refused_naming_it(comfyui):
    """By validation where ComfyUI checks a V3 node's dropdowns (after 0.3.75), else by the node itself."""
    with pytest.raises((WorkflowInvalid, WorkflowFailed), match="potential"):
        comfyui.run(fk_workflow(comfyui, potential="product"))


def test_a_verifier_that_cannot_score_x0_previews_is_refused_before_sampling(comfyui):
    prompt = fk_workflow(comfyui)
    prompt["5"] = {"class_type": "NoiseSearchSelfSupervisedVerifierLoader",
                   "inputs": {"weights": "noise_search_tiny_clip", "architecture": "auto", "download": False, "probe_level": 0.4}}
    with pytest.raises(WorkflowFailed, match="Noise Search Sampler: verifier: the self-supervised verifier scores only "
                       "finished samples"):
        comfyui.run(prompt)
