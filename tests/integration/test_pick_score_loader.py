"""The PickScore loader node in real ComfyUI: tiny folders in the released layout in models/verifiers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed

SAMPLER = "7"


@pytest.fixture(scope="module")
def verifiers_folder(comfyui) -> Path:
    import folder_paths

    folder = Path(folder_paths.get_folder_paths("verifiers")[0])
    tiny_models.write_tiny_pick_score(folder / tiny_models.TINY_PICK_SCORE_FOLDER,
                                      folder / tiny_models.TINY_CLIP_PROCESSOR_FOLDER)
    return folder


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))


def pick_score_workflow(comfyui, weights: str = tiny_models.TINY_PICK_SCORE_FOLDER,
                        processor: str = tiny_models.TINY_CLIP_PROCESSOR_FOLDER) -> dict:
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchPickScoreVerifierLoader",
                   "inputs": {"weights": weights, "processor": processor, "download": False}}
    prompt["6"]["inputs"].update(num_candidates=3, batch_size=3)
    return prompt


def test_pick_score_ranks_a_search(comfyui, verifiers_folder):
    run = comfyui.run(pick_score_workflow(comfyui))
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["verifier"] == "PickScore" and len(report["candidates"]) == 3
    assert report["best_score"] == max(c["score"] for c in report["candidates"])
    assert len({c["score"] for c in report["candidates"]}) == 3


def test_the_loader_builds_the_verifier_once(comfyui, verifiers_folder):
    first = comfyui.run(pick_score_workflow(comfyui)).outputs("5")[0]
    second = comfyui.run(pick_score_workflow(comfyui)).outputs("5")[0]  # a fresh executor runs the loader again
    assert first is second


def test_missing_weights_name_the_node_the_folder_and_where_to_get_them(comfyui, verifiers_folder, empty_hub_cache):
    expected = (re.escape("Load PickScore Verifier (Noise Search): verifier weights 'PickScore_v1' not found. "
                          f"Put the file (or folder) at {verifiers_folder / 'PickScore_v1'}.")
                + ".*yuvalkirstain/PickScore_v1.*The pack does not download it: no published checksum")
    with pytest.raises(WorkflowFailed, match=expected):
        comfyui.run(pick_score_workflow(comfyui, weights="PickScore_v1"))


def test_a_missing_processor_names_the_node_and_where_to_get_it(comfyui, verifiers_folder, empty_hub_cache):
    name = "CLIP-ViT-H-14-laion2B-s32B-b79K"
    expected = (re.escape(f"Load PickScore Verifier (Noise Search): verifier weights '{name}' not found. "
                          f"Put the file (or folder) at {verifiers_folder / name}.")
                + ".*preprocessor_config.json.*laion/CLIP-ViT-H-14-laion2B-s32B-b79K.*The pack does not download it: no published checksum")
    with pytest.raises(WorkflowFailed, match=expected):
        comfyui.run(pick_score_workflow(comfyui, processor=name))


def test_a_folder_that_is_not_pick_score_names_the_node(comfyui, verifiers_folder):
    with pytest.raises(WorkflowFailed, match=re.escape("Load PickScore Verifier (Noise Search): ")
                       + ".*does not describe a CLIP model"):
        comfyui.run(pick_score_workflow(comfyui, weights=tiny_models.TINY_DINOV2_FOLDER))


def test_an_empty_verifier_text_names_the_node_and_the_fix(comfyui, verifiers_folder):
    prompt = pick_score_workflow(comfyui)
    prompt[SAMPLER]["inputs"]["verifier_text"] = " "
    with pytest.raises(WorkflowFailed, match="Noise Search Sampler: the PickScore verifier scores images against a text, "
                                             "and verifier_text is empty"):
        comfyui.run(prompt)
