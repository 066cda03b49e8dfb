"""Scores that cannot be ranked are refused by name; a search holds only the candidates it can show."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed

SAMPLER = "7"
NAN_HEAD = "noise_search_tiny_aesthetic_head_nan.pth"


@pytest.fixture(scope="module")
def nan_head(comfyui) -> str:
    """A real aesthetic head file whose last bias is NaN, so every image it rates scores NaN."""
    import folder_paths

    path = Path(folder_paths.models_dir) / "verifiers" / NAN_HEAD
    tiny_models.write_tiny_aesthetic_head(path)
    state = torch.load(str(path), weights_only=True)
    state["layers.7.bias"] = torch.full_like(state["layers.7.bias"], float("nan"))
    torch.save(state, str(path))
    return NAN_HEAD


def nan_aesthetic(head: str) -> dict:
    return {"class_type": "NoiseSearchAestheticVerifierLoader", "inputs": {
        "head": head, "weights": tiny_models.TINY_CLIP_FOLDER, "architecture": "auto", "download": False}}


def score_images_workflow(comfyui, verifier: dict) -> dict:
    prompt = comfyui.workflow()
    prompt["6"]["inputs"]["num_candidates"] = 4
    prompt["40"] = {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER, 1], "vae": ["1", 2]}}
    prompt["41"] = {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["40", 0], "verifier": ["50", 0],
                                                                       "text": "a red apple"}}
    prompt["42"] = {"class_type": "PreviewImage", "inputs": {"images": ["41", 0]}}
    prompt["50"] = verifier
    return prompt


def test_a_verifier_scoring_nan_stops_the_search_naming_the_verifier_and_the_candidate(comfyui, nan_head):
    prompt = comfyui.workflow()
    prompt["5"] = nan_aesthetic(nan_head)
    with pytest.raises(WorkflowFailed, match=r"Noise Search Sampler: the verifier aesthetic score gave candidate 0 "
                       r"\(seed 1234\) a score of nan: a NaN or inf score cannot be ranked"):
        comfyui.run(prompt)


def test_score_images_refuses_a_nan_score_naming_the_image(comfyui, nan_head):
    with pytest.raises(WorkflowFailed, match=r"Score Images \(Noise Search\): the verifier aesthetic score gave image 0 "
                       r"\(counting from 0\) of 4 a score of nan"):
        comfyui.run(score_images_workflow(comfyui, nan_aesthetic(nan_head)))


def test_an_ensemble_member_scoring_nan_never_ranks_images(comfyui, nan_head):
    prompt = score_images_workflow(comfyui, {"class_type": "NoiseSearchVerifierEnsemble", "inputs": {
        "verifier_1": ["5", 0], "verifier_2": ["51", 0], "method": "rank average", "weights": "1, 1"}})
    prompt["51"] = nan_aesthetic(nan_head)
    with pytest.raises(WorkflowFailed, match=r"Score Images \(Noise Search\): the verifier aesthetic score \(verifier 2 "
                       r"of the ensemble\) gave image 0 \(counting from 0\) of 4 a score of nan"):
        comfyui.run(prompt)


@pytest.mark.parametrize("weights", ["nan, 1", "1, inf", "1e400, 1"])
def test_ensemble_weights_must_be_finite(comfyui, weights):
    prompt = comfyui.workflow()
    prompt["51"] = dict(prompt["5"])
    prompt["5"] = {"class_type": "NoiseSearchVerifierEnsemble", "inputs": {
        "verifier_1": ["51", 0], "verifier_2": ["51", 0], "method": "rank average", "weights": weights}}
    with pytest.raises(WorkflowFailed, match=rf"Verifier Ensemble \(Noise Search\): weights '{weights}' must be 2 "
                       "finite, non-negative numbers"):
        comfyui.run(prompt)


def live_images() -> int:
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), Image.Image))


def test_a_search_of_many_candidates_holds_only_what_it_can_show(comfyui, monkeypatch):
    gallery = next(m for name, m in sys.modules.items() if name.endswith(".nodes.gallery"))
    tracking = next(m for name, m in sys.modules.items() if name.endswith(".search.tracking"))
    held = tracking.HELD_CANDIDATES
    seen = []
    record = gallery.ThumbnailRecorder.__call__

    def watched(recorder, images):  # what is alive each time a batch is decoded, before its thumbnails are made
        seen.append((len(recorder.thumbnails), live_images()))
        record(recorder, images)

    monkeypatch.setattr(gallery.ThumbnailRecorder, "__call__", watched)
    prompt = comfyui.workflow()
    prompt["6"]["inputs"].update(num_candidates=held + 16, batch_size=8)
    prompt[SAMPLER]["inputs"]["steps"] = 2
    before = live_images()
    run = comfyui.run(prompt)
    best, ranked, _, report_json, _ = run.outputs(SAMPLER)
    report = json.loads(report_json)
    assert len(report["candidates"]) == held + 16  # the report lists every candidate
    by_score = sorted(report["candidates"], key=lambda c: (-c["score"], c["index"]))
    assert ranked["samples"].shape[0] == held
    assert torch.equal(ranked["samples"][0:1], best["samples"])
    assert len(seen) == (held + 16) // 8
    assert max(thumbnails for thumbnails, _ in seen) == held
    assert max(images for _, images in seen) - before <= held
    entries = run.ui(SAMPLER)["noise_search"][0]["candidates"]
    assert [e["index"] for e in entries] == [c["index"] for c in by_score[:held]]
    assert [e["rank"] for e in entries] == list(range(1, held + 1))
    import folder_paths

    temp = Path(folder_paths.get_temp_directory())
    assert all((temp / e["subfolder"] / e["filename"]).is_file() for e in entries)
