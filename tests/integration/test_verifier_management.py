"""Verifiers under ComfyUI's model management: built once, loaded on demand, offloaded when asked."""

from __future__ import annotations

import json

import pytest
import torch

from headless import tiny_models

SAMPLER = "7"


def aesthetic_workflow(comfyui):
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchAestheticVerifierLoader", "inputs": {
        "head": tiny_models.TINY_AESTHETIC_HEAD, "weights": tiny_models.TINY_CLIP_FOLDER, "architecture": "auto",
        "download": False}}
    prompt["6"]["inputs"]["num_candidates"] = 3
    return prompt


def test_the_aesthetic_verifier_ranks_a_search(comfyui):
    report = json.loads(comfyui.run(aesthetic_workflow(comfyui)).outputs(SAMPLER)[3])
    assert report["verifier"] == "aesthetic score" and len(report["candidates"]) == 3
    assert report["best_score"] == max(c["score"] for c in report["candidates"])


def test_a_verifier_loaded_twice_is_built_once(comfyui):
    first = comfyui.run(comfyui.workflow()).outputs("5")[0]
    second = comfyui.run(comfyui.workflow()).outputs("5")[0]  # a fresh executor: the loader node runs again
    assert first is second


def test_model_management_loads_the_verifier_and_offloads_it_on_demand(comfyui):
    import comfy.model_management

    verifier = comfyui.run(comfyui.workflow()).outputs("5")[0]

    def loaded() -> bool:
        return any(entry.model is verifier.patcher for entry in comfy.model_management.current_loaded_models)

    with torch.inference_mode():  # as ComfyUI runs every prompt, model loads and offloads included
        verifier.score(torch.rand((1, 32, 32, 3)), "a test")
        assert loaded()
        comfy.model_management.free_memory(1e30, verifier.patcher.load_device)
        assert not loaded()
        assert verifier.score(torch.rand((1, 32, 32, 3)), "reloaded on demand").shape == (1,)
        assert loaded()


def test_score_images_sorts_any_batch_best_first(comfyui):
    prompt = comfyui.workflow()
    prompt["6"]["inputs"]["num_candidates"] = 4
    prompt["40"] = {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER, 1], "vae": ["1", 2]}}
    prompt["41"] = {"class_type": "ImageInvert", "inputs": {"image": ["40", 0]}}
    prompt["42"] = {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["41", 0], "verifier": ["5", 0],
                                                                       "text": "a red apple"}}
    prompt["43"] = {"class_type": "PreviewImage", "inputs": {"images": ["42", 0]}}
    run = comfyui.run(prompt)
    inverted = run.outputs("41")[0]
    sorted_images, scores_json, best = run.outputs("42")
    ranked = json.loads(scores_json)
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    assert best == ranked[0]["score"]
    assert torch.equal(sorted_images, inverted[[r["index"] for r in ranked]])


def zero_shot_workflow(comfyui, verifier_text: str):
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchZeroShotVerifierLoader", "inputs": {
        "weights": tiny_models.TINY_CLIP_FOLDER, "architecture": "auto", "download": False,
        "class_names": "red apple\ngreen pear"}}
    prompt["6"]["inputs"]["num_candidates"] = 3
    prompt[SAMPLER]["inputs"]["verifier_text"] = verifier_text
    return prompt


def test_the_class_logit_verifier_scores_the_requested_class(comfyui):
    report = json.loads(comfyui.run(zero_shot_workflow(comfyui, "green pear")).outputs(SAMPLER)[3])
    assert report["verifier"] == "CLIP class logit" and len(report["candidates"]) == 3


def test_a_verifier_text_that_is_no_class_names_the_node_and_the_classes(comfyui):
    from headless.workflow_runner import WorkflowFailed

    with pytest.raises(WorkflowFailed, match="Noise Search Sampler: 'green peer' is not one of .* 'green pear'"):
        comfyui.run(zero_shot_workflow(comfyui, "green peer"))


AESTHETIC, CLIP_SCORE = "50", "51"


def ensemble_workflow(comfyui, members: dict[str, str], weights: str) -> dict:
    """Five candidates scored by an ensemble of the aesthetic (node 50) and CLIP score (node 51) loaders: ``members``
    maps the ensemble's inputs to those nodes."""
    prompt = aesthetic_workflow(comfyui)
    prompt["6"]["inputs"]["num_candidates"] = 5
    prompt[AESTHETIC] = prompt["5"]
    prompt[CLIP_SCORE] = {"class_type": "NoiseSearchCLIPScoreVerifierLoader",
                          "inputs": {"weights": tiny_models.TINY_CLIP_FOLDER, "architecture": "auto", "download": False}}
    prompt["5"] = {"class_type": "NoiseSearchVerifierEnsemble", "inputs": {
        **{name: [node, 0] for name, node in members.items()}, "method": "rank average", "weights": weights}}
    return prompt


def test_an_ensemble_ranks_the_search_by_averaged_ranks(comfyui):
    prompt = ensemble_workflow(comfyui, {"verifier_1": CLIP_SCORE, "verifier_2": AESTHETIC}, "1, 1")
    report = json.loads(comfyui.run(prompt).outputs(SAMPLER)[3])
    scores = [c["score"] for c in report["candidates"]]
    assert report["verifier"].startswith("ensemble (rank average: CLIP score, aesthetic score)")
    assert all(0.0 <= s <= 1.0 for s in scores) and sorted(s * 8 for s in scores) == pytest.approx(
        sorted(round(s * 8) for s in scores))  # mean of two ranks out of 0..4, scaled by 4: multiples of 1/8
    assert report["best_score"] == max(scores)


def test_an_ensemble_takes_six_members_and_weighs_each(comfyui):
    members = {f"verifier_{i}": CLIP_SCORE for i in range(1, 6)} | {"verifier_6": AESTHETIC}
    prompt = ensemble_workflow(comfyui, members, "0, 0, 0, 0, 0, 1")
    report = json.loads(comfyui.run(prompt).outputs(SAMPLER)[3])
    assert report["verifier"] == "ensemble (rank average: " + ", ".join(["CLIP score"] * 5 + ["aesthetic score"]) + ")"
    prompt = aesthetic_workflow(comfyui)
    prompt["6"]["inputs"]["num_candidates"] = 5
    alone = json.loads(comfyui.run(prompt).outputs(SAMPLER)[3])
    aesthetic_order = sorted(range(5), key=lambda i: alone["candidates"][i]["score"])
    assert [report["candidates"][i]["score"] for i in aesthetic_order] == pytest.approx([0, 0.25, 0.5, 0.75, 1])


def test_ensemble_weights_that_do_not_fit_name_the_node(comfyui):
    from headless.workflow_runner import WorkflowFailed

    prompt = comfyui.workflow()
    prompt["51"] = dict(prompt["5"])
    prompt["5"] = {"class_type": "NoiseSearchVerifierEnsemble", "inputs": {
        "verifier_1": ["51", 0], "verifier_2": ["51", 0], "method": "weighted z-score", "weights": "1, -2"}}
    with pytest.raises(WorkflowFailed, match="Verifier Ensemble \\(Noise Search\\): weights '1, -2'"):
        comfyui.run(prompt)


def test_the_dinov2_class_logit_verifier_scores_the_requested_class(comfyui):
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchDINOv2VerifierLoader", "inputs": {
        "backbone": tiny_models.TINY_DINOV2_FOLDER, "head": tiny_models.TINY_DINOV2_HEAD,
        "class_names": "tench\ngoldfish\ngreat white shark", "download": False}}
    prompt["6"]["inputs"]["num_candidates"] = 3
    prompt[SAMPLER]["inputs"]["verifier_text"] = "goldfish"
    report = json.loads(comfyui.run(prompt).outputs(SAMPLER)[3])
    assert report["verifier"] == "DINOv2 class logit" and len(report["candidates"]) == 3


def test_missing_dinov2_weights_name_the_node_the_path_and_the_download(comfyui):
    from headless.workflow_runner import WorkflowFailed

    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchDINOv2VerifierLoader", "inputs": {
        "backbone": "dinov2-base", "head": "dinov2_vitb14_linear_head.pth", "class_names": "", "download": False}}
    with pytest.raises(WorkflowFailed) as failed:
        comfyui.run(prompt)
    message = str(failed.value)
    assert "Load DINOv2 Class-Logit Verifier (Noise Search)" in message
    assert "dinov2-base" in message and "facebook/dinov2-base" in message and "turn on download" in message
