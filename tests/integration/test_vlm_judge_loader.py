"""The VLM judge loader in real ComfyUI: tiny Qwen2.5-VL and Qwen3-VL folders in models/verifiers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from headless import tiny_models

SAMPLER, LOADER = "7", "5"
PROMPT = "a red apple on a wooden table"
DISPLAY_NAME = "Load VLM Judge Verifier (Noise Search)"


def transformers_has(model_type: str) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


@pytest.fixture(scope="module")
def verifiers_folder(comfyui) -> Path:
    import folder_paths

    folder = Path(folder_paths.get_folder_paths("verifiers")[0])
    tiny_models.write_tiny_qwen_vl(folder / tiny_models.TINY_QWEN2_5_VL_FOLDER, "qwen2_5_vl")
    if transformers_has("qwen3_vl"):
        tiny_models.write_tiny_qwen_vl(folder / tiny_models.TINY_QWEN3_VL_FOLDER, "qwen3_vl")
    return folder


def judge_inputs(weights: str = tiny_models.TINY_QWEN2_5_VL_FOLDER, **inputs) -> dict:
    return {"class_type": "NoiseSearchVLMJudgeVerifierLoader", "inputs": {
        "weights": weights, "mode": "question", "aspect": "overall",
        "question_template": "Does this image show: {verifier_text}? Answer Yes or No.", "max_batch_size": 8,
        "download": False, **inputs}}


def judge_search(comfyui, candidates: int = 3, **inputs) -> dict:
    prompt = comfyui.workflow()
    prompt[LOADER] = judge_inputs(**inputs)
    prompt["6"]["inputs"].update(num_candidates=candidates, batch_size=candidates)
    prompt[SAMPLER]["inputs"]["verifier_text"] = PROMPT
    return prompt


def judge_scoring(**inputs) -> dict:
    """A small graph that runs the loader without sampling: Score Images on one plain image."""
    return {
        LOADER: judge_inputs(**inputs),
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0xC03020}},
        "2": {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["1", 0], "verifier": [LOADER, 0], "text": PROMPT}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


@pytest.mark.parametrize("weights, mode", [(tiny_models.TINY_QWEN2_5_VL_FOLDER, "rubric"),
                                           (tiny_models.TINY_QWEN3_VL_FOLDER, "question")])
def test_the_judge_ranks_a_search(comfyui, verifiers_folder, weights, mode):
    if weights == tiny_models.TINY_QWEN3_VL_FOLDER and not transformers_has("qwen3_vl"):
        pytest.skip("this transformers has no Qwen3-VL")
    prompt = judge_search(comfyui, weights=weights, mode=mode)
    # The ranked candidates, decoded again and scored by Score Images with the same judge, get the report's scores.
    prompt["40"] = {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER, 1], "vae": ["1", 2]}}
    prompt["41"] = {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["40", 0], "verifier": [LOADER, 0],
                                                                       "text": PROMPT}}
    prompt["42"] = {"class_type": "PreviewImage", "inputs": {"images": ["41", 0]}}
    run = comfyui.run(prompt)
    report = json.loads(run.outputs(SAMPLER)[3])
    assert report["verifier"] == f"VLM judge {weights} ({'rubric: overall' if mode == 'rubric' else 'question'})"
    searched = sorted((c["score"] for c in report["candidates"]), reverse=True)
    assert len(searched) == 3 and report["best_score"] == searched[0] and len(set(searched)) == 3
    rescored = [entry["score"] for entry in json.loads(run.outputs("41")[1])]
    assert rescored == pytest.approx(searched, abs=1e-4)  # best first both times


def test_the_loader_builds_the_judge_once_and_modes_share_the_weights(comfyui, verifiers_folder):
    first = comfyui.run(judge_scoring()).outputs(LOADER)[0]
    second = comfyui.run(judge_scoring()).outputs(LOADER)[0]  # a fresh executor runs the loader again
    rubric = comfyui.run(judge_scoring(mode="rubric", aspect="originality")).outputs(LOADER)[0]
    assert first is second and rubric is not first
    assert rubric.verifier.module is first.verifier.module  # one model in memory, managed as clones by ComfyUI
    assert rubric.patcher.is_clone(first.patcher)


def test_the_judge_runs_in_bfloat16_where_comfyui_would(comfyui, verifiers_folder, monkeypatch):
    import comfy.model_management

    monkeypatch.setattr(comfy.model_management, "should_use_bf16", lambda *args, **kwargs: True)
    monkeypatch.setattr(comfy.model_management, "should_use_fp16", lambda *args, **kwargs: True)
    run = comfyui.run(judge_scoring())  # ComfyUI would now pick bf16: a judge of its own, not one cached in fp32
    judge = run.outputs(LOADER)[0]
    assert {p.dtype for p in judge.verifier.module.parameters()} == {torch.bfloat16}  # not cast on to fp16
    assert json.loads(run.outputs("2")[1])[0]["score"] < 0


def test_model_management_loads_the_judge_and_offloads_it_on_demand(comfyui, verifiers_folder):
    import comfy.model_management

    judge = comfyui.run(judge_scoring()).outputs(LOADER)[0]

    def loaded() -> bool:
        return any(entry.model is judge.patcher for entry in comfy.model_management.current_loaded_models)

    with torch.inference_mode():  # as ComfyUI runs every prompt
        first = judge.score(torch.rand((2, 64, 64, 3)), PROMPT)
        assert loaded()
        comfy.model_management.free_memory(1e30, judge.patcher.load_device)
        assert not loaded()
        assert judge.score(torch.rand((2, 64, 64, 3)), PROMPT).shape == first.shape
        assert loaded()


def test_an_empty_verifier_text_is_an_error_naming_the_node(comfyui, verifiers_folder):
    from headless.workflow_runner import WorkflowFailed

    prompt = judge_search(comfyui)
    prompt[SAMPLER]["inputs"]["verifier_text"] = "   "
    with pytest.raises(WorkflowFailed, match=r"Noise Search Sampler: the VLM judge .* verifier scores images against a "
                                             r"text, and verifier_text is empty"):
        comfyui.run(prompt)


def test_a_question_template_without_the_prompt_is_an_error_naming_the_node(comfyui, verifiers_folder):
    from headless.workflow_runner import WorkflowFailed

    with pytest.raises(WorkflowFailed, match=re.escape(f"{DISPLAY_NAME}: question_template must contain {{verifier_text}}")):
        comfyui.run(judge_search(comfyui, question_template="Is this a good image?"))


def test_missing_weights_name_the_node_the_folder_and_where_to_get_them(comfyui, verifiers_folder, tmp_path, monkeypatch):
    import huggingface_hub.constants

    from headless.workflow_runner import WorkflowFailed

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    expected = (re.escape(f"{DISPLAY_NAME}: verifier weights 'Qwen3-VL-8B-Instruct' not found. Put the file (or folder) "
                          f"at {verifiers_folder / 'Qwen3-VL-8B-Instruct'}.")
                + ".*Qwen/Qwen3-VL-8B-Instruct.*The pack does not download it: no published checksum")
    with pytest.raises(WorkflowFailed, match=expected):
        comfyui.run(judge_search(comfyui, weights="Qwen3-VL-8B-Instruct"))


def test_an_incomplete_folder_is_refused_naming_what_it_lacks(comfyui, verifiers_folder):
    from headless.workflow_runner import WorkflowFailed

    incomplete = verifiers_folder / "noise_search_incomplete_vlm"
    shutil.copytree(verifiers_folder / tiny_models.TINY_QWEN2_5_VL_FOLDER, incomplete, dirs_exist_ok=True)
    (incomplete / "preprocessor_config.json").unlink()
    with pytest.raises(WorkflowFailed, match=re.escape(
            f"{DISPLAY_NAME}: the model folder {incomplete} lacks preprocessor_config.json (the image processor's "
            "settings). Download a whole Qwen2.5-VL or Qwen3-VL Instruct repository")):
        comfyui.run(judge_search(comfyui, weights=incomplete.name))


def test_a_folder_of_another_architecture_is_refused_naming_it(comfyui, verifiers_folder):
    from headless.workflow_runner import WorkflowFailed

    dinov2 = verifiers_folder / tiny_models.TINY_DINOV2_FOLDER  # a transformers folder, but not a VLM
    with pytest.raises(WorkflowFailed, match=re.escape(f"{DISPLAY_NAME}: {dinov2.name} holds a 'dinov2' model "
                                                        "(Dinov2Model), which the VLM judge does not run")):
        comfyui.run(judge_search(comfyui, weights=dinov2.name))


def test_download_completes_a_folder_an_interrupted_download_left(comfyui, verifiers_folder, tmp_path, monkeypatch):
    import functools
    import hashlib
    import sys
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tiny_models.write_tiny_qwen_vl(tmp_path / "served", "qwen2_5_vl")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    downloads = next(m for name, m in sys.modules.items() if name.endswith(".verifiers.downloads"))
    name = "noise-search-tiny-vlm-from-the-network"
    files = sorted(p.name for p in served.iterdir())
    known_files = tuple(
        downloads.KnownFile(f"{name}/{file}", f"http://127.0.0.1:{server.server_port}/{file}", (served / file).stat().st_size,
                            hashlib.sha256((served / file).read_bytes()).hexdigest())
        for file in files)
    monkeypatch.setitem(downloads.KNOWN_SOURCES, name, downloads.WeightSource(
        downloads.VLM_JUDGE, "Apache-2.0", known_files, "a local test server"))
    partial = verifiers_folder / name
    partial.mkdir()
    shutil.copy(served / "config.json", partial / "config.json")  # what an interrupted download leaves
    try:
        report = json.loads(comfyui.run(judge_search(comfyui, candidates=2, weights=name, download=True)).outputs(SAMPLER)[3])
    finally:
        server.shutdown()
    assert sorted(p.name for p in partial.iterdir()) == files and len(report["candidates"]) == 2
