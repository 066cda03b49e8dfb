"""The search-sampler workflow run through ComfyUI's own validator and executor on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from headless.workflow_runner import WorkflowFailed, WorkflowInvalid

SAMPLER = "7"


def ksampler_latent(comfyui, search_prompt: dict, seed: int) -> torch.Tensor:
    """The latent a plain KSampler gives with the search's settings and this seed."""
    inputs = {key: value for key, value in search_prompt[SAMPLER]["inputs"].items()
              if key in ("model", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
                         "latent_image", "denoise")}
    prompt = {key: search_prompt[key] for key in ("1", "2", "3", "4")}
    prompt["20"] = {"class_type": "KSampler", "inputs": {**inputs, "seed": seed}}
    prompt["21"] = {"class_type": "VAEDecode", "inputs": {"samples": ["20", 0], "vae": ["1", 2]}}
    prompt["22"] = {"class_type": "PreviewImage", "inputs": {"images": ["21", 0]}}
    return comfyui.run(prompt).outputs("20")[0]["samples"]


def test_the_best_latent_is_the_top_scoring_candidate(comfyui, search_workflow):
    run = comfyui.run(search_workflow(num_candidates=6, batch_size=3))
    best, ranked, table, report_json, curve = run.outputs(SAMPLER)
    report = json.loads(report_json)
    scores = [c["score"] for c in report["candidates"]]
    assert len(scores) == 6 and len(set(scores)) == 6
    best_candidate = report["candidates"][report["best_index"]]
    assert best_candidate["score"] == max(scores)
    assert ranked["samples"].shape[0] == 6
    assert torch.equal(best["samples"], ranked["samples"][0:1])
    assert run.ui(SAMPLER)["text"] == [table]
    saved = run.ui("9")["images"][0]
    assert (comfyui.base_directory / "output" / saved["filename"]).is_file()


def test_ranked_latents_are_in_descending_score_order(comfyui, search_workflow):
    run = comfyui.run(search_workflow(num_candidates=5, batch_size=2))
    _, ranked, _, report_json, _ = run.outputs(SAMPLER)
    report = json.loads(report_json)
    by_rank = sorted(report["candidates"], key=lambda c: -c["score"])
    for rank, candidate in enumerate(by_rank):
        alone = comfyui.run(search_workflow(num_candidates=1, batch_size=1, seed=candidate["seed"]))
        torch.testing.assert_close(alone.outputs(SAMPLER)[0]["samples"], ranked["samples"][rank : rank + 1],
                                   rtol=1e-3, atol=1e-3)


def test_a_candidate_is_reproduced_by_ksampler_from_its_recorded_seed(comfyui, search_workflow):
    prompt = search_workflow(num_candidates=4, batch_size=1, seed=500)
    _, ranked, _, report_json, _ = comfyui.run(prompt).outputs(SAMPLER)
    report = json.loads(report_json)
    winner = report["candidates"][report["best_index"]]
    assert winner["seed"] == 500 + winner["index"]
    assert torch.equal(ksampler_latent(comfyui, prompt, winner["seed"]), ranked["samples"][0:1])


@pytest.mark.parametrize("sampler_name", ["euler_ancestral", "dpmpp_2m_sde"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_stochastic_samplers_reproduce_each_candidate_from_its_seed(comfyui, search_workflow, sampler_name, batch_size):
    """Bit for bit one candidate per call; to float rounding when the candidates share a batch."""
    prompt = search_workflow(num_candidates=3, batch_size=batch_size, seed=40, sampler_name=sampler_name)
    _, ranked, _, report_json, _ = comfyui.run(prompt).outputs(SAMPLER)
    by_rank = sorted(json.loads(report_json)["candidates"], key=lambda c: -c["score"])
    for rank, candidate in enumerate(by_rank):
        alone = ksampler_latent(comfyui, prompt, candidate["seed"])
        if batch_size == 1:
            assert torch.equal(alone, ranked["samples"][rank : rank + 1])
        else:
            torch.testing.assert_close(alone, ranked["samples"][rank : rank + 1], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("cfg, rows_per_step", [(5.0, 2), (1.0, 1)])
def test_nfes_are_candidates_times_steps_times_cfg_rows(comfyui, search_workflow, cfg, rows_per_step):
    run = comfyui.run(search_workflow(num_candidates=5, batch_size=2, steps=4, cfg=cfg))
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["nfes"]["search"] == 5 * 4 * rows_per_step
    assert report["nfes"]["plain_image"] == 4 * rows_per_step
    assert all(c["nfes"] == 4 * rows_per_step for c in report["candidates"])


def test_nfes_count_every_model_call_of_a_two_call_sampler(comfyui, search_workflow):
    """Heun evaluates the model twice per step except the last (to sigma 0): counted, not estimated."""
    run = comfyui.run(search_workflow(num_candidates=2, batch_size=2, steps=4, cfg=5.0, sampler_name="heun"))
    assert json.loads(run.outputs(SAMPLER)[3])["nfes"]["search"] == 2 * (2 * 4 - 1) * 2


def test_batch_size_one_and_four_give_the_same_candidates(comfyui, search_workflow):
    one = comfyui.run(search_workflow(num_candidates=4, batch_size=1, seed=9)).outputs(SAMPLER)
    four = comfyui.run(search_workflow(num_candidates=4, batch_size=4, seed=9)).outputs(SAMPLER)
    report_one, report_four = json.loads(one[3]), json.loads(four[3])
    assert [c["seed"] for c in report_one["candidates"]] == [c["seed"] for c in report_four["candidates"]]
    for a, b in zip(report_one["candidates"], report_four["candidates"]):
        assert a["score"] == pytest.approx(b["score"], abs=1e-3)
    torch.testing.assert_close(one[1]["samples"], four[1]["samples"], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("node, field", [("6", "num_candidates"), ("6", "batch_size")])
def test_zero_budgets_are_rejected_naming_the_node_and_input(comfyui, search_workflow, node, field):
    prompt = search_workflow()
    prompt[node]["inputs"][field] = 0
    with pytest.raises(WorkflowInvalid) as error:
        comfyui.run(prompt)
    assert "NoiseSearchRandomSearch" in str(error.value) and field in str(error.value)


def test_missing_verifier_weights_name_the_file_and_where_to_put_it(comfyui, search_workflow):
    prompt = search_workflow()
    prompt["5"]["inputs"]["weights"] = "clip-vit-l-14.safetensors"
    # ComfyUI 0.33 refuses a name outside the list at validation; 0.3.75 lets it through to the loader's own error.
    with pytest.raises((WorkflowInvalid, WorkflowFailed)) as error:
        comfyui.run(prompt)
    message = str(error.value)
    if isinstance(error.value, WorkflowInvalid):
        assert "NoiseSearchCLIPScoreVerifierLoader" in message and "Value not in list: weights" in message
    else:
        assert "Load CLIP Score Verifier (Noise Search)" in message
        assert str(Path(comfyui.base_directory) / "models" / "verifiers" / "clip-vit-l-14.safetensors") in message


def test_an_empty_verifier_text_names_the_node_and_the_fix(comfyui, search_workflow):
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(search_workflow(verifier_text="  "))
    assert "Noise Search Sampler" in str(error.value) and "verifier_text" in str(error.value)


def test_a_latent_batch_is_refused_with_the_fix(comfyui, search_workflow):
    prompt = search_workflow()
    prompt["4"]["inputs"]["batch_size"] = 2
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(prompt)
    assert "Noise Search Sampler" in str(error.value) and "batch_size 1" in str(error.value)


def test_cancel_between_batches_interrupts_without_output(comfyui, search_workflow):
    import comfy.model_management
    import comfy.utils

    updates = []
    interrupted_at = []
    first_batch = 2 * 4 * 2  # 2 candidates x 4 steps x 2 CFG rows: the progress bar counts NFEs

    def interrupt_after_first_batch(value, total, preview, prompt_id=None, node_id=None):
        # ComfyUI 0.33 throttles progress updates, so the first one seen past the first batch may be later.
        updates.append((value, total))
        if value >= first_batch and not interrupted_at:
            interrupted_at.append(value)
            comfy.model_management.interrupt_current_processing(True)

    comfy.utils.set_progress_bar_global_hook(interrupt_after_first_batch)
    try:
        with pytest.raises(WorkflowFailed) as error:
            comfyui.run(search_workflow(num_candidates=6, batch_size=2, steps=4))
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        comfy.model_management.interrupt_current_processing(False)
    assert error.value.event == "execution_interrupted"
    assert error.value.data["node_id"] == SAMPLER
    assert max(value for value, _ in updates) == interrupted_at[0] < 6 * 4 * 2  # nothing ran after the cancel
    assert {total for _, total in updates} == {6 * 4 * 2}


def test_the_node_ui_carries_a_gallery_sorted_by_score_with_thumbnails(comfyui, search_workflow):
    import folder_paths

    run = comfyui.run(search_workflow(num_candidates=5, batch_size=2))
    report = json.loads(run.outputs(SAMPLER)[3])
    (gallery,) = run.ui(SAMPLER)["noise_search"]
    entries = gallery["candidates"]
    assert len(entries) == 5 and [e["rank"] for e in entries] == [1, 2, 3, 4, 5]
    assert [e["score"] for e in entries] == sorted((c["score"] for c in report["candidates"]), reverse=True)
    assert entries[0]["index"] == gallery["best_index"] == report["best_index"]
    assert gallery["curve"] == report["curve"] and gallery["nfes"]["search"] == report["nfes"]["search"]
    assert gallery["verifier_seconds"] == report["verifier_seconds"] > 0
    for entry in entries:
        seed = next(c["seed"] for c in report["candidates"] if c["index"] == entry["index"])
        assert entry["seed"] == str(seed)
        path = Path(folder_paths.get_temp_directory()) / entry["subfolder"] / entry["filename"]
        assert path.is_file() and path.stat().st_size > 0
