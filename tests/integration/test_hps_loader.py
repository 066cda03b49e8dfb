"""The HPSv2.1 loader node in real ComfyUI: a tiny checkpoint in the released layout in models/verifiers."""

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
    tiny_models.write_tiny_hps_v2(folder / tiny_models.TINY_HPS_V2_FOLDER)
    return folder


def hps_workflow(comfyui, weights: str = tiny_models.TINY_HPS_V2_FOLDER) -> dict:
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchHPSv2VerifierLoader", "inputs": {"weights": weights, "download": False}}
    prompt["6"]["inputs"].update(num_candidates=3, batch_size=3)
    return prompt


def test_hps_ranks_a_search(comfyui, verifiers_folder):
    report = json.loads(comfyui.run(hps_workflow(comfyui)).outputs(SAMPLER)[3])
    assert report["verifier"] == "HPSv2" and len(report["candidates"]) == 3
    assert report["best_score"] == max(c["score"] for c in report["candidates"])
    assert len({c["score"] for c in report["candidates"]}) == 3


def test_the_checkpoint_file_itself_can_be_chosen_and_is_built_once(comfyui, verifiers_folder):
    weights = f"{tiny_models.TINY_HPS_V2_FOLDER}/{tiny_models.HPS_V2_CHECKPOINT}"  # open_clip_config.json beside it is used
    first = comfyui.run(hps_workflow(comfyui, weights)).outputs("5")[0]
    assert first.verifier.name == "HPSv2"
    assert comfyui.run(hps_workflow(comfyui)).outputs("5")[0] is first  # the folder names the same checkpoint


def test_missing_weights_name_the_node_the_folder_and_where_to_get_them(comfyui, verifiers_folder, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    expected = (re.escape("Load HPSv2.1 Verifier (Noise Search): verifier weights 'HPSv2.1' not found. "
                          f"Put the file (or folder) at {verifiers_folder / 'HPSv2.1'}.")
                + ".*HPS_v2.1_compressed.pt.*xswu/HPSv2.*The pack does not download it: no published checksum")
    with pytest.raises(WorkflowFailed, match=expected):
        comfyui.run(hps_workflow(comfyui, "HPSv2.1"))


def test_a_folder_with_v2_0_beside_v2_1_uses_v2_1(comfyui, verifiers_folder):
    folder = verifiers_folder / "noise_search_hps_both"
    tiny_models.write_tiny_hps_v2(folder)
    (folder / "HPS_v2_compressed.pt").write_bytes(b"not read")  # v2.0's checkpoint, as an xswu/HPSv2 cache may hold
    assert comfyui.run(hps_workflow(comfyui, "noise_search_hps_both")).outputs("5")[0].verifier.name == "HPSv2"


def test_a_folder_with_two_other_checkpoints_names_the_node_and_the_files(comfyui, verifiers_folder):
    folder = verifiers_folder / "noise_search_two_hps"
    tiny_models.write_tiny_hps_v2(folder)
    (folder / tiny_models.HPS_V2_CHECKPOINT).rename(folder / "HPS_v2_compressed.pt")
    (folder / "HPS_v2.pt").write_bytes(b"not read")
    with pytest.raises(WorkflowFailed, match=re.escape("Load HPSv2.1 Verifier (Noise Search): ") + ".*should hold "
                       + re.escape("HPS_v2.1_compressed.pt or one HPS_v2*.pt checkpoint, it holds 2 "
                                   "(HPS_v2.pt, HPS_v2_compressed.pt)")):
        comfyui.run(hps_workflow(comfyui, "noise_search_two_hps"))


def test_an_empty_verifier_text_names_the_node_and_the_fix(comfyui, verifiers_folder):
    prompt = hps_workflow(comfyui)
    prompt[SAMPLER]["inputs"]["verifier_text"] = ""
    with pytest.raises(WorkflowFailed, match="Noise Search Sampler: the HPSv2 verifier scores images against a text, "
                                             "and verifier_text is empty"):
        comfyui.run(prompt)
