"""Videos scored on the frames the user picks: a real Wan 2.1 video VAE (tiny) decodes, real verifiers score."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed

LATENTS = torch.randn((3, 16, 3, 4, 4), generator=torch.Generator().manual_seed(0))
"""Three candidate videos: 3 latent frames decode to 9 frames of 32 × 32."""


@pytest.fixture(autouse=True)
def as_the_executor_runs():
    """ComfyUI's executor runs nodes in inference mode, and the weights it loaded are inference tensors."""
    with torch.inference_mode():
        yield


@pytest.fixture(scope="module")
def pack(comfyui):
    def module(name: str):
        return next(m for key, m in sys.modules.items() if key.endswith(f".nodes.{name}"))

    return module


@pytest.fixture(scope="module")
def loaded(comfyui):
    """The tiny Wan VAE through ComfyUI's VAELoader, and verifiers through the pack's loader nodes."""
    import folder_paths

    tiny_models.write_tiny_wan_vae(Path(folder_paths.get_folder_paths("vae")[0]) / tiny_models.TINY_WAN_VAE_NAME)
    prompt = {
        "1": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models.TINY_WAN_VAE_NAME}},
        "2": {"class_type": "NoiseSearchCLIPScoreVerifierLoader",
              "inputs": {"weights": tiny_models.TINY_CLIP_FOLDER, "architecture": "auto", "download": False}},
        "3": {"class_type": "NoiseSearchTemporalConsistencyVerifierLoader",
              "inputs": {"features": tiny_models.TINY_DINOV2_FOLDER, "architecture": "auto", "download": False}},
        "4": {"class_type": "NoiseSearchVideoFrames",
              "inputs": {"verifier": ["2", 0], "frames": "every k-th", "every": 4, "aggregate": "min"}},
        "5": {"class_type": "NoiseSearchVideoFrames",
              "inputs": {"verifier": ["3", 0], "frames": "every k-th", "every": 2, "aggregate": "mean"}},
        "6": {"class_type": "NoiseSearchVerifierEnsemble", "inputs": {
            "verifier_1": ["4", 0], "verifier_2": ["5", 0], "method": "rank average", "weights": "1, 1"}},
        "7": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    run = comfyui.run(prompt)
    return {name: run.outputs(node)[0] for name, node in
            (("vae", "1"), ("clip", "2"), ("temporal", "3"), ("clip_frames", "4"), ("temporal_frames", "5"), ("ensemble", "6"))}


def frames_of(loaded) -> torch.Tensor:
    videos = loaded["vae"].decode(LATENTS)
    assert videos.shape == (3, 9, 32, 32, 3)
    return videos


def test_an_image_verifier_scores_the_picked_frames_and_min_takes_the_worst(loaded, pack):
    scoring = pack("comfy_scoring")
    videos = frames_of(loaded)
    scores = scoring.DecodeAndScore(loaded["vae"], loaded["clip_frames"], "a red apple").score(LATENTS)
    per_frame = loaded["clip"].score(videos[:, [0, 4, 8]].reshape(9, 32, 32, 3), "a red apple").reshape(3, 3)
    torch.testing.assert_close(scores, per_frame.min(dim=1).values, rtol=1e-5, atol=1e-5)


def test_without_a_frames_node_a_video_is_the_mean_of_all_its_frames(loaded, pack):
    scoring = pack("comfy_scoring")
    videos = frames_of(loaded)
    scores = scoring.DecodeAndScore(loaded["vae"], loaded["clip"], "a red apple").score(LATENTS)
    per_frame = loaded["clip"].score(videos.reshape(27, 32, 32, 3), "a red apple").reshape(3, 9)
    torch.testing.assert_close(scores, per_frame.mean(dim=1), rtol=1e-5, atol=1e-5)


def test_a_video_verifier_sees_each_candidates_picked_frames_as_a_video(loaded, pack):
    scoring = pack("comfy_scoring")
    videos = frames_of(loaded)
    scores = scoring.DecodeAndScore(loaded["vae"], loaded["temporal_frames"], None).score(LATENTS)
    features = loaded["temporal"].verifier.image_features
    for video, score in zip(videos, scores):
        embedded = features.features(video[[0, 2, 4, 6, 8]])
        expected = torch.stack([embedded[t] @ embedded[t + 1] for t in range(4)]).mean()
        assert float(score) == pytest.approx(float(expected), abs=1e-5)


def test_an_ensemble_routes_each_member_its_own_frames(loaded, pack):
    scoring = pack("comfy_scoring")
    columns = scoring.DecodeAndScore(loaded["vae"], loaded["ensemble"], "a red apple").score(LATENTS)
    alone = [scoring.DecodeAndScore(loaded["vae"], loaded[name], "a red apple").score(LATENTS)
             for name in ("clip_frames", "temporal_frames")]
    assert columns.shape == (3, 2)
    torch.testing.assert_close(columns, torch.stack(alone, dim=1), rtol=1e-5, atol=1e-5)


def test_each_candidates_thumbnail_is_a_strip_of_its_own_frames(loaded, pack):
    scoring, gallery = pack("comfy_scoring"), pack("gallery")
    recorder = gallery.ThumbnailRecorder()
    scoring.DecodeAndScore(loaded["vae"], loaded["clip_frames"], "a red apple", on_decoded=recorder).score(LATENTS)
    videos = frames_of(loaded)
    assert sorted(recorder.thumbnails) == [0, 1, 2]
    for index, video in enumerate(videos):
        strip = torch.cat([video[0], video[4], video[8]], dim=1)  # the picked frames, side by side
        expected = (strip.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        assert recorder.thumbnails[index].size == (96, 32)
        assert (np.asarray(recorder.thumbnails[index]) == expected).all()


def test_a_video_verifier_on_images_is_refused_naming_the_node(comfyui):
    prompt = comfyui.workflow()
    prompt["5"] = {"class_type": "NoiseSearchTemporalConsistencyVerifierLoader",
                   "inputs": {"features": tiny_models.TINY_DINOV2_FOLDER, "architecture": "auto", "download": False}}
    prompt["6"]["inputs"].update(num_candidates=2, batch_size=2)
    prompt["7"]["inputs"]["verifier_text"] = ""
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(prompt)
    assert "Noise Search Sampler" in str(error.value) and "scores videos" in str(error.value)


def test_a_frames_node_on_an_image_search_is_refused(comfyui):
    prompt = comfyui.workflow()
    prompt["50"] = {"class_type": "NoiseSearchVideoFrames",
                    "inputs": {"verifier": ["5", 0], "frames": "first", "every": 1, "aggregate": "mean"}}
    prompt["7"]["inputs"]["verifier"] = ["50", 0]
    prompt["6"]["inputs"].update(num_candidates=2, batch_size=2)
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(prompt)
    assert "Video Frames for Verifier (Noise Search)" in str(error.value) and "makes images" in str(error.value)
