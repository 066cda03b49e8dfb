"""The ImageReward loader node in real ComfyUI: a tiny checkpoint in the official layout in models/verifiers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from headless import tiny_models

SAMPLER = "7"


@pytest.fixture(scope="module")
def verifiers_folder(comfyui) -> Path:
    import folder_paths

    folder = Path(folder_paths.get_folder_paths("verifiers")[0])
    tiny_models.write_tiny_image_reward(folder / tiny_models.TINY_IMAGE_REWARD_FOLDER,
                                        folder / tiny_models.TINY_BERT_TOKENIZER_FOLDER)
    return folder


def image_reward_workflow(comfyui, weights: str = tiny_models.TINY_IMAGE_REWARD_FOLDER) -> dict:
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchImageRewardVerifierLoader", "inputs": {
        "weights": weights, "tokenizer": tiny_models.TINY_BERT_TOKENIZER_FOLDER, "download": False}}
    prompt["6"]["inputs"].update(num_candidates=3, batch_size=3)
    return prompt


def test_image_reward_ranks_a_search(comfyui, verifiers_folder):
    report = json.loads(comfyui.run(image_reward_workflow(comfyui)).outputs(SAMPLER)[3])
    assert report["verifier"] == "ImageReward" and len(report["candidates"]) == 3
    assert report["best_score"] == max(c["score"] for c in report["candidates"])


def test_the_loader_builds_the_verifier_once(comfyui, verifiers_folder):
    first = comfyui.run(image_reward_workflow(comfyui)).outputs("5")[0]
    second = comfyui.run(image_reward_workflow(comfyui)).outputs("5")[0]  # a fresh executor runs the loader again
    assert first is second


def test_the_checkpoint_file_itself_can_be_chosen(comfyui, verifiers_folder):
    weights = f"{tiny_models.TINY_IMAGE_REWARD_FOLDER}/ImageReward.pt"  # med_config.json beside it is used
    assert comfyui.run(image_reward_workflow(comfyui, weights)).outputs("5")[0].verifier.name == "ImageReward"


def test_missing_weights_name_the_node_the_path_and_where_to_get_them(comfyui, verifiers_folder, tmp_path, monkeypatch):
    import huggingface_hub.constants

    from headless.workflow_runner import WorkflowFailed

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    expected = (re.escape(f"Load ImageReward Verifier (Noise Search): verifier weights 'ImageReward' not found. "
                          f"Put the file (or folder) at {verifiers_folder / 'ImageReward'}.")
                + ".*THUDM/ImageReward.*The pack does not download it: no published checksum")
    with pytest.raises(WorkflowFailed, match=expected):
        comfyui.run(image_reward_workflow(comfyui, "ImageReward"))
