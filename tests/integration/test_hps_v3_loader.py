"""The HPSv3 loader node in real ComfyUI: a tiny Qwen2-VL base folder and HPSv3 checkpoint in models/verifiers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed
from verifiers.hps_v3 import CHECKPOINT_NAME

SAMPLER = "7"


@pytest.fixture(scope="module")
def verifiers_folder(comfyui) -> Path:
    import folder_paths

    folder = Path(folder_paths.get_folder_paths("verifiers")[0])
    tiny_models.write_tiny_hps_v3(folder / tiny_models.TINY_HPS_V3_BASE_FOLDER,
                                  folder / tiny_models.TINY_HPS_V3_FOLDER / CHECKPOINT_NAME)
    return folder


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))


def hps_v3_workflow(comfyui, weights: str = tiny_models.TINY_HPS_V3_FOLDER,
                    base_model: str = tiny_models.TINY_HPS_V3_BASE_FOLDER) -> dict:
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchHPSv3VerifierLoader",
                   "inputs": {"weights": weights, "base_model": base_model, "max_batch_size": 2, "download": False}}
    prompt["6"]["inputs"].update(num_candidates=3, batch_size=3)
    return prompt


def test_hps_v3_ranks_a_search(comfyui, verifiers_folder):
    run = comfyui.run(hps_v3_workflow(comfyui))
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["verifier"] == "HPSv3" and len(report["candidates"]) == 3
    assert report["best_score"] == max(c["score"] for c in report["candidates"])
    assert len({c["score"] for c in report["candidates"]}) == 3


def test_the_checkpoint_file_itself_loads(comfyui, verifiers_folder):
    weights = f"{tiny_models.TINY_HPS_V3_FOLDER}/{CHECKPOINT_NAME}"
    report = json.loads(comfyui.run(hps_v3_workflow(comfyui, weights=weights)).outputs(SAMPLER)[3])
    assert report["verifier"] == "HPSv3"


def test_missing_weights_name_the_node_the_folder_and_where_to_get_them(comfyui, verifiers_folder, empty_hub_cache):
    expected = (re.escape("Load HPSv3 Verifier (Noise Search): verifier weights 'HPSv3' not found. "
                          f"Put the file (or folder) at {verifiers_folder / 'HPSv3'}.")
                + ".*HPSv3.safetensors.*MizzenAI/HPSv3.*The pack does not download it: no published checksum")
    with pytest.raises(WorkflowFailed, match=expected):
        comfyui.run(hps_v3_workflow(comfyui, weights="HPSv3"))


def test_a_missing_base_folder_names_the_node_and_where_to_get_it(comfyui, verifiers_folder, empty_hub_cache):
    expected = (re.escape("Load HPSv3 Verifier (Noise Search): verifier weights 'Qwen2-VL-7B-Instruct' not found. "
                          f"Put the file (or folder) at {verifiers_folder / 'Qwen2-VL-7B-Instruct'}.")
                + ".*preprocessor_config.json.*Qwen/Qwen2-VL-7B-Instruct.*The pack does not download it: no published checksum")
    with pytest.raises(WorkflowFailed, match=expected):
        comfyui.run(hps_v3_workflow(comfyui, base_model="Qwen2-VL-7B-Instruct"))


def test_a_base_folder_of_another_model_names_the_node(comfyui, verifiers_folder):
    with pytest.raises(WorkflowFailed, match=re.escape("Load HPSv3 Verifier (Noise Search): ")
                       + ".*HPSv3 is built on Qwen2-VL-7B-Instruct.*Qwen/Qwen2-VL-7B-Instruct"):
        comfyui.run(hps_v3_workflow(comfyui, base_model=tiny_models.TINY_DINOV2_FOLDER))


def test_an_empty_verifier_text_names_the_node_and_the_fix(comfyui, verifiers_folder):
    prompt = hps_v3_workflow(comfyui)
    prompt[SAMPLER]["inputs"]["verifier_text"] = " "
    with pytest.raises(WorkflowFailed, match="Noise Search Sampler: the HPSv3 verifier scores images against a text, "
                                             "and verifier_text is empty"):
        comfyui.run(prompt)
