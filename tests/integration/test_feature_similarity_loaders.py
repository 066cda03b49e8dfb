"""The source-similarity and temporal-consistency loaders in real ComfyUI, on the tiny DINOv2 and CLIP folders."""

from __future__ import annotations

import json

import pytest

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed, WorkflowInvalid

SAMPLER = "7"


def with_source(comfyui, features: str, region: str = "whole image", mask: dict | None = None) -> dict:
    """The README's workflow plus a source image (a plain KSampler's, decoded) and a source-similarity verifier."""
    prompt = comfyui.workflow()
    prompt["30"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 3, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    prompt["31"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["1", 2]}}
    prompt["32"] = {"class_type": "NoiseSearchSourceSimilarityVerifierLoader", "inputs": {
        "features": features, "architecture": "auto", "download": False, "image": ["31", 0], "region": region}}
    if mask is not None:
        prompt["33"] = mask
        prompt["32"]["inputs"]["mask"] = ["33", 0]
    return prompt


def score_images(prompt: dict, images: list, verifier: list) -> dict:
    prompt["40"] = {"class_type": "NoiseSearchScoreImages", "inputs": {"images": images, "verifier": verifier, "text": ""}}
    prompt["41"] = {"class_type": "PreviewImage", "inputs": {"images": ["40", 0]}}
    return prompt


@pytest.mark.parametrize("features", [tiny_models.TINY_DINOV2_FOLDER, tiny_models.TINY_CLIP_FOLDER])
def test_the_source_scores_one_against_itself_and_less_against_the_search(comfyui, features):
    prompt = score_images(with_source(comfyui, features), ["31", 0], ["32", 0])
    prompt["42"] = {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER, 1], "vae": ["1", 2]}}
    prompt["43"] = {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["42", 0], "verifier": ["32", 0], "text": ""}}
    prompt["44"] = {"class_type": "PreviewImage", "inputs": {"images": ["43", 0]}}
    prompt["6"]["inputs"].update(num_candidates=3, batch_size=3)
    run = comfyui.run(prompt)
    assert run.outputs("40")[2] == pytest.approx(1.0, abs=1e-4)
    assert all(entry["score"] < 1.0 - 1e-4 for entry in json.loads(run.outputs("43")[1]))


def test_an_ensemble_weighs_the_prompt_against_the_source(comfyui):
    prompt = with_source(comfyui, tiny_models.TINY_DINOV2_FOLDER)
    prompt["34"] = {"class_type": "NoiseSearchVerifierEnsemble", "inputs": {
        "verifier_1": ["5", 0], "verifier_2": ["32", 0], "method": "rank average", "weights": "1, 1"}}
    prompt[SAMPLER]["inputs"]["verifier"] = ["34", 0]
    prompt["6"]["inputs"].update(num_candidates=4, batch_size=2)
    report = json.loads(comfyui.run(prompt).outputs(SAMPLER)[3])
    assert "source similarity" in report["verifier"] and "CLIP score" in report["verifier"]
    assert len(report["candidates"]) == 4


def test_a_mask_keeps_the_comparison_to_its_region(comfyui):
    solid = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}}
    prompt = score_images(with_source(comfyui, tiny_models.TINY_CLIP_FOLDER, "edited region (inside the mask)", solid),
                          ["31", 0], ["32", 0])
    assert comfyui.run(prompt).outputs("40")[2] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("region, mask, message", [
    ("kept region (outside the mask)", None, "needs a mask"),
    ("kept region (outside the mask)", {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 32}},
     "use the mask made for that image"),
])
def test_bad_masks_are_refused_naming_the_node(comfyui, region, mask, message):
    prompt = score_images(with_source(comfyui, tiny_models.TINY_CLIP_FOLDER, region, mask), ["31", 0], ["32", 0])
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(prompt)
    assert "Load Source Similarity Verifier (Noise Search)" in str(error.value) and message in str(error.value)


def test_missing_features_name_where_to_put_them(comfyui):
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchTemporalConsistencyVerifierLoader",
                   "inputs": {"features": "no_such_dinov2", "architecture": "auto", "download": False}}
    with pytest.raises((WorkflowFailed, WorkflowInvalid)) as error:  # 0.33 refuses it at validation
        comfyui.run(prompt)
    assert "no_such_dinov2" in str(error.value)


def test_both_loaders_share_one_tower(comfyui):
    prompt = with_source(comfyui, tiny_models.TINY_DINOV2_FOLDER)
    prompt["35"] = {"class_type": "NoiseSearchTemporalConsistencyVerifierLoader",
                    "inputs": {"features": tiny_models.TINY_DINOV2_FOLDER, "architecture": "auto", "download": False}}
    prompt = score_images(prompt, ["31", 0], ["32", 0])
    prompt["45"] = {"class_type": "PreviewAny", "inputs": {"source": ["35", 0]}}
    run = comfyui.run(prompt)
    source, temporal = run.outputs("32")[0], run.outputs("35")[0]
    assert source.patcher is temporal.patcher and source.verifier.module is temporal.verifier.module
