"""Pruned random search and the re-scored final render, through ComfyUI's executor on the tiny SD1.5 and the demo model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from headless.workflow_runner import WorkflowFailed, WorkflowInvalid
from tests.integration.test_algorithms import with_replay

SAMPLER, ALGORITHM = "7", "6"
PRUNED = {"num_candidates": 6, "checkpoints": "0.34, 0.67", "keep_fraction": 0.5, "batch_size": 2, "search_steps": 0,
          "max_nfes": 0}
"""On the 6-step workflow: checkpoints at steps 2 and 4; 6 -> 3 -> 2 candidates."""


def pruned(prompt: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    prompt[ALGORITHM] = {"class_type": "NoiseSearchPrunedRandomSearch", "inputs": {**PRUNED, **overrides}}
    return prompt


def random(prompt: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    inputs = {"num_candidates": 6, "batch_size": 2, "search_steps": 0, "max_nfes": 0}
    prompt[ALGORITHM] = {"class_type": "NoiseSearchRandomSearch", "inputs": {**inputs, **overrides}}
    return prompt


def with_scored_winner(prompt: dict[str, Any], vae: list, verifier: list, text: str) -> dict[str, Any]:
    """Decode the search's best latent and score it with Score Images: what the final render scores."""
    prompt["40"] = {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER, 0], "vae": vae}}
    prompt["41"] = {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["40", 0], "verifier": verifier,
                                                                        "text": text}}
    prompt["42"] = {"class_type": "PreviewImage", "inputs": {"images": ["41", 0]}}
    return prompt


@pytest.fixture(scope="module")
def unet_rows(comfyui):
    """Rows the tiny UNet's forward pass has seen, counted by a hook on the module itself."""
    from headless import workflow_runner

    executor = workflow_runner.new_executor()
    unet = comfyui.run(random(comfyui.workflow(), num_candidates=1), executor).outputs("1")[0].model.diffusion_model
    rows = {"count": 0}
    handle = unet.register_forward_hook(lambda module, args, output: rows.__setitem__("count", rows["count"] + args[0].shape[0]))
    yield executor, rows
    handle.remove()


def test_nfes_are_exact_and_pruned_candidates_stop(comfyui, unet_rows):
    executor, rows = unet_rows
    before = rows["count"]
    report = json.loads(comfyui.run(pruned(comfyui.workflow()), executor).outputs(SAMPLER)[3])
    assert report["parameters"]["checkpoint_steps"] == [2, 4] and report["parameters"]["survivors"] == [6, 3, 2]
    # CFG 5: 2 rows per step. 6 candidates x 2 steps, 3 x 2 steps, 2 x 2 steps
    assert report["nfes"] == {"search": (6 * 2 + 3 * 2 + 2 * 2) * 2, "render": 0, "total": 44, "plain_image": 12}
    assert rows["count"] - before == 44
    assert [c["round"] for c in report["candidates"]] == [1] * 6 + [2] * 3 + [3] * 2
    assert report["best_index"] in (9, 10) and report["final_score"] == report["best_score"]


def test_a_budget_lowers_the_candidates_and_holds(comfyui, unet_rows):
    executor, rows = unet_rows
    before = rows["count"]
    report = json.loads(comfyui.run(pruned(comfyui.workflow(), num_candidates=50, max_nfes=100), executor).outputs(SAMPLER)[3])
    spent = rows["count"] - before
    assert report["nfes"]["search"] == spent <= 100
    count = report["parameters"]["candidates_run"]
    assert 6 < count < 50 and report["parameters"]["survivors"][0] == count


def test_the_candidates_are_random_searchs_and_unpruned_they_end_as_its_samples(comfyui):
    searched = json.loads(comfyui.run(random(comfyui.workflow())).outputs(SAMPLER)[3])
    unpruned = json.loads(comfyui.run(pruned(comfyui.workflow(), keep_fraction=1.0)).outputs(SAMPLER)[3])
    first = [c for c in unpruned["candidates"] if c["round"] == 1]
    finished = [c for c in unpruned["candidates"] if c["final"]]
    assert [c["seed"] for c in first] == [c["seed"] for c in finished] == [c["seed"] for c in searched["candidates"]]
    # Euler over three segments is the one-call Euler run up to float rounding
    assert [c["score"] for c in finished] == pytest.approx([c["score"] for c in searched["candidates"]], abs=1e-4)


def test_replaying_the_report_reproduces_the_winner_bit_for_bit(comfyui):
    import comfy.model_management

    run = comfyui.run(with_replay(pruned(comfyui.workflow(), batch_size=1)))  # bit for bit at batch size 1
    report = json.loads(run.outputs(SAMPLER)[3])
    assert [op["op"] for op in report["best_recipe"]] == ["noise", "denoise", "denoise", "denoise"]
    replayed, searched = run.outputs("30")[0]["samples"], run.outputs(SAMPLER)[0]["samples"]
    if comfy.model_management.get_torch_device().type == "cpu":
        assert torch.equal(replayed, searched)
    else:
        torch.testing.assert_close(replayed, searched, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("make", [random, pruned])
def test_a_winner_searched_at_fewer_steps_is_scored_again_at_the_full_count(comfyui, make):
    prompt = with_scored_winner(make(comfyui.workflow(), search_steps=3), ["1", 2], ["5", 0],
                                "a red apple on a wooden table")
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    table = run.outputs(SAMPLER)[2]
    assert report["final_rescored"] is True and report["nfes"]["render"] == 12
    assert report["final_score"] == pytest.approx(run.outputs("41")[2], abs=1e-5)
    assert report["final_score"] != report["best_score"]
    assert (f"winner: search score {report['best_score']:.6g}, final render score {report['final_score']:.6g} "
            "(re-scored at 6 steps)") in table


def test_the_self_supervised_verifier_scores_the_render_against_the_renders_own_probe(comfyui):
    prompt = random(comfyui.workflow(), num_candidates=3, search_steps=3)
    prompt["5"] = {"class_type": "NoiseSearchSelfSupervisedVerifierLoader", "inputs": {
        "weights": "noise_search_tiny_clip", "architecture": "auto", "download": False, "probe_level": 0.4}}
    report = json.loads(comfyui.run(prompt).outputs(SAMPLER)[3])
    assert report["final_rescored"] and -1.0 - 1e-5 <= report["final_score"] <= 1.0 + 1e-5
    assert report["final_score"] != report["best_score"]


def test_the_node_text_shows_the_winners_previews_and_final_score(comfyui):
    run = comfyui.run(pruned(comfyui.workflow()))
    report, table = json.loads(run.outputs(SAMPLER)[3]), run.outputs(SAMPLER)[2]
    candidates = report["candidates"]
    winner = candidates[report["best_index"]]
    middle = candidates[winner["parent"]]
    first = candidates[middle["parent"]]
    assert first["seed"] == middle["seed"] == winner["seed"] and first["round"] == 1
    assert (f"winner's previews: step 2 x0 {first['score']:.6g} -> step 4 x0 {middle['score']:.6g} -> "
            f"final {winner['score']:.6g}") in table


@pytest.mark.parametrize("overrides, message", [
    ({"checkpoints": "0.5, 0.25"}, "Pruned Random Search (Noise Search): checkpoints: has 0.25 after 0.5"),
    ({"checkpoints": "0.25, 1.5"}, "Pruned Random Search (Noise Search): checkpoints: has 1.5, outside the schedule"),
    ({"checkpoints": "a quarter"}, "Pruned Random Search (Noise Search): checkpoints: is 'a quarter'; write fractions"),
    ({"checkpoints": " "}, "Pruned Random Search (Noise Search): checkpoints: is empty"),
    ({"keep_fraction": 0.0}, "Pruned Random Search (Noise Search): keep_fraction: is 0.0; keep a fraction in (0, 1]"),
    ({"checkpoints": "0.95"}, "Noise Search Sampler: checkpoints: has 0.95, which falls at step 6 of the 6-step schedule"),
    ({"checkpoints": "0.5", "search_steps": 1}, "Noise Search Sampler: checkpoints: has 0.5, which falls at step 1 of the "
     "1-step schedule"),
])
def test_bad_inputs_fail_once_naming_the_node_and_the_input(comfyui, overrides, message):
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(pruned(comfyui.workflow(), **overrides))
    assert message in str(error.value)


def test_zero_candidates_are_refused_by_comfyuis_validator_naming_the_input(comfyui):
    with pytest.raises(WorkflowInvalid) as invalid:
        comfyui.run(pruned(comfyui.workflow(), num_candidates=0))
    errors = invalid.value.node_errors[ALGORITHM]["errors"]
    assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [("value_smaller_than_min", "num_candidates")]


def digit_workflow(algorithm: dict[str, Any], digit: int = 3, seed: int = 5) -> dict[str, Any]:
    return {
        "1": {"class_type": "NoiseSearchDemoModelLoader", "inputs": {}},
        "2": {"class_type": "NoiseSearchDemoDigit", "inputs": {"digit": digit}},
        "5": {"class_type": "NoiseSearchDemoDigitVerifierLoader", "inputs": {"kind": "class logit", "probe_level": 0.4}},
        ALGORITHM: algorithm,
        SAMPLER: {"class_type": "NoiseSearchSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": 8, "cfg": 3.0, "sampler_name": "euler", "scheduler": "karras",
            "positive": ["2", 0], "negative": ["2", 1], "latent_image": ["2", 2], "denoise": 1.0,
            "vae": ["1", 1], "verifier": ["5", 0], "algorithm": [ALGORITHM, 0], "verifier_text": str(digit)}},
    }


def test_on_the_demo_model_nfes_replay_and_the_rescore_hold(comfyui):
    import comfy.model_management

    algorithm = {"class_type": "NoiseSearchPrunedRandomSearch", "inputs": {
        "num_candidates": 8, "checkpoints": "0.25, 0.5", "keep_fraction": 0.5, "batch_size": 1, "search_steps": 4,
        "max_nfes": 0}}
    prompt = with_scored_winner(digit_workflow(algorithm), ["1", 1], ["5", 0], "3")
    prompt["30"] = {"class_type": "NoiseSearchReplay", "inputs": {
        **{k: v for k, v in prompt[SAMPLER]["inputs"].items() if k not in ("vae", "verifier", "algorithm", "verifier_text")},
        "report": [SAMPLER, 3]}}
    prompt["31"] = {"class_type": "PreviewImage", "inputs": {"images": ["40", 0]}}
    prompt["32"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["1", 1]}}
    prompt["33"] = {"class_type": "PreviewImage", "inputs": {"images": ["32", 0]}}
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    # CFG 3: 2 rows per step; 4 search steps, checkpoints at steps 1 and 2; 8 -> 4 -> 2 candidates; 8-step render
    assert report["parameters"]["checkpoint_steps"] == [1, 2]
    assert report["nfes"] == {"search": (8 * 1 + 4 * 1 + 2 * 2) * 2, "render": 16, "total": 48, "plain_image": 16}
    assert report["final_rescored"] and report["final_score"] == pytest.approx(run.outputs("41")[2], abs=1e-4)
    replayed, searched = run.outputs("30")[0]["samples"], run.outputs(SAMPLER)[0]["samples"]
    if comfy.model_management.get_torch_device().type == "cpu":
        assert torch.equal(replayed, searched)
    else:
        torch.testing.assert_close(replayed, searched, rtol=1e-4, atol=1e-3)
