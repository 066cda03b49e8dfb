"""Every algorithm, both sampler nodes and the replay node, through ComfyUI's executor on tiny models."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from headless.workflow_runner import WorkflowFailed, WorkflowInvalid

SAMPLER, ALGORITHM = "7", "6"

ALGORITHMS = {
    "random": ("NoiseSearchRandomSearch", {"num_candidates": 4, "batch_size": 1, "search_steps": 0, "max_nfes": 0}),
    "zero_order": ("NoiseSearchZeroOrderSearch", {"num_neighbours": 2, "iterations": 2, "lambda": 0.4,
                                                  "batch_size": 1, "search_steps": 0, "max_nfes": 0}),
    "paths": ("NoiseSearchPathsSearch", {"num_paths": 2, "branches": 2, "start_step": 2, "forward_steps": 1,
                                         "backward_steps": 2, "batch_size": 1, "max_nfes": 0}),
}


def with_algorithm(prompt: dict[str, Any], name: str, **overrides: Any) -> dict[str, Any]:
    class_type, inputs = ALGORITHMS[name]
    prompt[ALGORITHM] = {"class_type": class_type, "inputs": {**inputs, **overrides}}
    return prompt


def with_replay(prompt: dict[str, Any]) -> dict[str, Any]:
    """Add the replay node, fed the search's report and the same sampling settings."""
    settings = {k: v for k, v in prompt[SAMPLER]["inputs"].items()
                if k in ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
                         "latent_image", "denoise")}
    prompt["30"] = {"class_type": "NoiseSearchReplay", "inputs": {**settings, "report": [SAMPLER, 3]}}
    prompt["31"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["1", 2]}}
    prompt["32"] = {"class_type": "PreviewImage", "inputs": {"images": ["31", 0]}}
    return prompt


@pytest.fixture(scope="module")
def unet_rows(comfyui):
    """Rows the tiny UNet's forward pass has seen, counted by a hook on the module itself."""
    from headless import workflow_runner

    executor = workflow_runner.new_executor()
    prompt = with_algorithm(comfyui.workflow(), "random", num_candidates=1)
    unet = comfyui.run(prompt, executor).outputs("1")[0].model.diffusion_model
    rows = {"count": 0}
    handle = unet.register_forward_hook(lambda module, args, output: rows.__setitem__("count", rows["count"] + args[0].shape[0]))
    yield executor, rows
    handle.remove()


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_nfes_equal_the_networks_rows_and_stay_within_the_budget(comfyui, unet_rows, algorithm):
    executor, rows = unet_rows
    unlimited = comfyui.run(with_algorithm(comfyui.workflow(), algorithm), executor)
    full_cost = json.loads(unlimited.outputs(SAMPLER)[3])["nfes"]["search"]
    budget = full_cost * 2 // 3
    prompt = with_algorithm(comfyui.workflow(), algorithm, max_nfes=budget)
    before = rows["count"]
    report = json.loads(comfyui.run(prompt, executor).outputs(SAMPLER)[3])
    assert report["nfes"]["search"] == rows["count"] - before
    assert 0 < report["nfes"]["search"] <= budget


def test_unbudgeted_nfes_equal_the_networks_rows(comfyui, unet_rows):
    executor, rows = unet_rows
    for algorithm in sorted(ALGORITHMS):
        before = rows["count"]
        report = json.loads(comfyui.run(with_algorithm(comfyui.workflow(), algorithm), executor).outputs(SAMPLER)[3])
        assert report["nfes"]["total"] == rows["count"] - before, algorithm


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_replaying_the_report_reproduces_the_winner_bit_for_bit(comfyui, algorithm):
    """Bit for bit on the CPU (what CI runs); CUDA kernels only promise float rounding across calls."""
    import comfy.model_management

    run = comfyui.run(with_replay(with_algorithm(comfyui.workflow(), algorithm)))
    replayed, searched = run.outputs("30")[0]["samples"], run.outputs(SAMPLER)[0]["samples"]
    if comfy.model_management.get_torch_device().type == "cpu":
        assert torch.equal(replayed, searched)
    else:
        torch.testing.assert_close(replayed, searched, rtol=1e-4, atol=1e-3)


def test_zero_order_never_returns_worse_than_its_first_pivot(comfyui):
    for seed in (1, 2, 3):
        prompt = with_algorithm(comfyui.workflow(), "zero_order")
        prompt[SAMPLER]["inputs"]["seed"] = seed
        report = json.loads(comfyui.run(prompt).outputs(SAMPLER)[3])
        first_pivot = report["candidates"][0]
        assert first_pivot["parent"] is None and first_pivot["recipe"][0] == {"op": "noise", "seed": seed}
        assert report["best_score"] >= first_pivot["score"]


def test_paths_final_candidates_descend_from_kept_branches(comfyui):
    report = json.loads(comfyui.run(with_algorithm(comfyui.workflow(), "paths")).outputs(SAMPLER)[3])
    candidates = {c["index"]: c for c in report["candidates"]}
    last_round = max(c["round"] for c in candidates.values())
    finals = [c for c in candidates.values() if c["final"]]
    assert len(finals) == 2 and all(c["round"] == last_round for c in finals)
    assert report["best_index"] in {c["index"] for c in finals}
    for final in finals:
        node = final
        while node["parent"] is not None:
            parent = candidates[node["parent"]]
            assert parent["kept"] and parent["round"] == node["round"] - 1
            assert node["recipe"][: len(parent["recipe"])] == parent["recipe"]
            node = parent
        assert node["round"] == 1


def test_fewer_search_steps_return_what_ksampler_renders_from_the_winning_seed(comfyui):
    prompt = with_algorithm(comfyui.workflow(), "random", num_candidates=4, search_steps=3)
    prompt[SAMPLER]["inputs"]["steps"] = 6
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    winner = report["candidates"][report["best_index"]]
    assert report["nfes"] == {"search": 4 * 3 * 2, "render": 6 * 2, "total": 4 * 3 * 2 + 6 * 2, "plain_image": 6 * 2}
    plain = {key: prompt[key] for key in ("1", "2", "3", "4")}
    settings = {k: v for k, v in prompt[SAMPLER]["inputs"].items()
                if k in ("model", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative", "latent_image", "denoise")}
    plain["20"] = {"class_type": "KSampler", "inputs": {**settings, "seed": winner["seed"]}}
    plain["21"] = {"class_type": "VAEDecode", "inputs": {"samples": ["20", 0], "vae": ["1", 2]}}
    plain["22"] = {"class_type": "PreviewImage", "inputs": {"images": ["21", 0]}}
    assert torch.equal(comfyui.run(plain).outputs("20")[0]["samples"], run.outputs(SAMPLER)[0]["samples"])


def advanced_workflow(comfyui, guider: str, flow: bool, algorithm: str = "random") -> dict[str, Any]:
    prompt = with_algorithm(comfyui.workflow(), algorithm)
    model = ["1", 0]
    if flow:
        prompt["10"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 3.0}}
        model = ["10", 0]
    if guider == "basic":
        prompt["11"] = {"class_type": "BasicGuider", "inputs": {"model": model, "conditioning": ["2", 0]}}
    else:
        prompt["11"] = {"class_type": "CFGGuider", "inputs": {"model": model, "positive": ["2", 0],
                                                            "negative": ["3", 0], "cfg": 4.0}}
    prompt["12"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}
    prompt["13"] = {"class_type": "BasicScheduler", "inputs": {"model": model, "scheduler": "simple", "steps": 5,
                                                               "denoise": 1.0}}
    prompt["14"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 77}}
    prompt[SAMPLER] = {"class_type": "NoiseSearchSamplerAdvanced", "inputs": {
        "noise": ["14", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0],
        "latent_image": ["4", 0], "vae": ["1", 2], "verifier": ["5", 0], "algorithm": [ALGORITHM, 0],
        "verifier_text": "a red apple"}}
    return prompt


@pytest.mark.parametrize("guider, flow, rows_per_step", [("basic", True, 1), ("cfg", False, 2)])
def test_the_advanced_node_matches_sampler_custom_advanced(comfyui, guider, flow, rows_per_step):
    prompt = advanced_workflow(comfyui, guider, flow)
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["nfes"]["search"] == 4 * 5 * rows_per_step
    winner = report["candidates"][report["best_index"]]
    plain = {key: value for key, value in prompt.items() if key not in (SAMPLER, ALGORITHM, "5", "8", "9")}
    plain["14"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": winner["seed"]}}
    plain["20"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["14", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0]}}
    plain["21"] = {"class_type": "VAEDecode", "inputs": {"samples": ["20", 0], "vae": ["1", 2]}}
    plain["22"] = {"class_type": "PreviewImage", "inputs": {"images": ["21", 0]}}
    assert torch.equal(comfyui.run(plain).outputs("20")[0]["samples"], run.outputs(SAMPLER)[0]["samples"])


@pytest.mark.parametrize("algorithm", ["paths", "zero_order"])
def test_the_advanced_replay_node_remakes_a_flow_models_winner(comfyui, algorithm):
    prompt = advanced_workflow(comfyui, "basic", True, algorithm)
    prompt["30"] = {"class_type": "NoiseSearchReplayAdvanced", "inputs": {
        "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0],
        "report": [SAMPLER, 3]}}
    prompt["31"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["1", 2]}}
    prompt["32"] = {"class_type": "PreviewImage", "inputs": {"images": ["31", 0]}}
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["algorithm"] in ("search over paths", "zero-order search")
    assert torch.equal(run.outputs("30")[0]["samples"], run.outputs(SAMPLER)[0]["samples"])


def test_the_scaling_curve_is_an_image_of_the_search(comfyui):
    best, ranked, table, report, curve = comfyui.run(with_algorithm(comfyui.workflow(), "zero_order")).outputs(SAMPLER)
    assert curve.shape[0] == 1 and curve.shape[-1] == 3 and curve.shape[1] > 100 and curve.shape[2] > 100
    assert 0.0 <= float(curve.min()) and float(curve.max()) <= 1.0 and float(curve.std()) > 0.01


@pytest.mark.parametrize("algorithm, overrides, message", [
    ("paths", {"forward_steps": 2, "backward_steps": 2}, "Search over Paths (Noise Search): backward_steps"),
    ("paths", {"start_step": 6}, "Noise Search Sampler: start_step: is 6, outside the schedule of 6 steps"),
    ("random", {"max_nfes": 5}, "Noise Search Sampler: max_nfes: is 5, but one candidate costs 12 NFEs"),
    ("random", {"search_steps": 9}, "Noise Search Sampler: search_steps: is 9 but the sampler runs 6 steps"),
])
def test_bad_parameters_fail_naming_the_node_and_the_parameter(comfyui, algorithm, overrides, message):
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(with_algorithm(comfyui.workflow(), algorithm, **overrides))
    assert message in str(error.value)


def test_lambda_outside_its_range_is_rejected_by_validation(comfyui):
    with pytest.raises(WorkflowInvalid, match="lambda"):
        comfyui.run(with_algorithm(comfyui.workflow(), "zero_order", **{"lambda": 0.0}))


@pytest.mark.parametrize("algorithm", ["zero_order", "paths"])
def test_cancel_mid_search_stops_every_algorithm_without_output(comfyui, algorithm):
    import comfy.model_management
    import comfy.utils

    updates = []

    def interrupt_at_first_step(value, total, preview, prompt_id=None, node_id=None):
        updates.append((value, total))
        comfy.model_management.interrupt_current_processing(True)

    comfy.utils.set_progress_bar_global_hook(interrupt_at_first_step)
    try:
        with pytest.raises(WorkflowFailed) as error:
            comfyui.run(with_algorithm(comfyui.workflow(), algorithm))
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        comfy.model_management.interrupt_current_processing(False)
    assert error.value.event == "execution_interrupted" and error.value.data["node_id"] == SAMPLER
    assert max(value for value, _ in updates) < max(total for _, total in updates)
