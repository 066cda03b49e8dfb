"""Every algorithm searches a video: a tiny Wan 2.1 text-to-video model and video VAE of ComfyUI's own classes, loaded by
UNETLoader and VAELoader, sampled by the pack's search node code (the conditioning is made here: Wan's text encoder,
umt5-xxl, has no tiny form)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from headless import tiny_models
from search import FKSteering, PathsSearch, PrunedRandomSearch, RandomSearch, ZeroOrderSearch, replay

STEPS, CFG = 4, 2.0
ALGORITHMS = {
    "random": RandomSearch(3, batch_size=3),
    "zero-order": ZeroOrderSearch(num_neighbours=2, iterations=1, batch_size=2),
    "paths": PathsSearch(num_paths=2, branches=2, start_step=2, forward_steps=1, backward_steps=2, batch_size=2),
    "FK steering": FKSteering(num_particles=2, start_step=2, interval=1, batch_size=2),
    "pruned random": PrunedRandomSearch(4, (0.5,), 0.5, batch_size=2),
}


@pytest.fixture(autouse=True)
def as_the_executor_runs():
    with torch.inference_mode():
        yield


@pytest.fixture(scope="module")
def video(comfyui):
    import folder_paths

    tiny_models.write_tiny_wan(Path(folder_paths.get_folder_paths("diffusion_models")[0]) / tiny_models.TINY_WAN_NAME)
    tiny_models.write_tiny_wan_vae(Path(folder_paths.get_folder_paths("vae")[0]) / tiny_models.TINY_WAN_VAE_NAME)
    prompt = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": tiny_models.TINY_WAN_NAME, "weight_dtype": "default"}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models.TINY_WAN_VAE_NAME}},
        "3": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 32, "height": 32, "length": 9, "batch_size": 1}},
        "4": {"class_type": "NoiseSearchCLIPScoreVerifierLoader",
              "inputs": {"weights": tiny_models.TINY_CLIP_FOLDER, "architecture": "auto", "download": False}},
        "5": {"class_type": "NoiseSearchVideoFrames",
              "inputs": {"verifier": ["4", 0], "frames": "every k-th", "every": 4, "aggregate": "mean"}},
        **{str(10 + i): {"class_type": "PreviewAny", "inputs": {"source": [node, 0]}} for i, node in enumerate("1235")},
    }
    run = comfyui.run(prompt)
    generator = torch.Generator().manual_seed(0)
    positive = [[torch.randn((1, 6, tiny_models.WAN_TEXT_WIDTH), generator=generator), {}]]
    negative = [[torch.zeros((1, 6, tiny_models.WAN_TEXT_WIDTH)), {}]]
    return {"model": run.outputs("1")[0], "vae": run.outputs("2")[0], "latent": run.outputs("3")[0],
            "verifier": run.outputs("5")[0], "positive": positive, "negative": negative}


@pytest.fixture(scope="module")
def pack(comfyui):
    def module(name: str):
        return next(m for key, m in sys.modules.items() if key.endswith(f".nodes.{name}"))

    return module


def search(pack, video, algorithm):
    setup = pack("search_sampler").ksampler_setup(
        "Noise Search Sampler", video["model"], 7, STEPS, CFG, "euler", "simple", video["positive"], video["negative"],
        video["latent"], 1.0)
    output = pack("search_runner").run_search_node("Noise Search Sampler", setup, algorithm, video["vae"],
                                                   video["verifier"], "a red apple", None)
    return setup, output


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_searches_a_video_and_its_winner_replays(pack, video, name):
    setup, output = search(pack, video, ALGORITHMS[name])
    best, ranked, _, report_json, _ = output.result
    report = json.loads(report_json)
    assert best["samples"].shape == (1, 16, 3, 4, 4)
    assert report["nfes"]["search"] == setup.counter.count > 0  # every network row the search ran, counted
    plain = pack("comfy_sampling").ComfyDenoiser(setup.guider, setup.sampler, setup.sigmas, setup.samples, setup.counter)
    torch.testing.assert_close(replay(report["best_recipe"], plain), best["samples"], rtol=1e-3, atol=1e-3)


def test_nfes_are_exact_and_each_thumbnail_is_its_own_candidates_frames(pack, video):
    setup, output = search(pack, video, RandomSearch(3, batch_size=3))
    report = json.loads(output.result[3])
    assert report["nfes"]["search"] == 3 * STEPS * 2  # candidates × steps × (cond, uncond)
    gallery = output.ui["noise_search"][0]
    import folder_paths
    from PIL import Image

    ranked = output.result[1]["samples"]
    videos = video["vae"].decode(ranked)
    by_rank = sorted(report["candidates"], key=lambda c: -c["score"])
    strips = [torch.cat([f[0], f[4], f[8]], dim=1) for f in videos]  # each candidate's picked frames, side by side
    for entry, candidate in zip(gallery["candidates"], by_rank):
        assert int(entry["seed"]) == candidate["seed"]
        path = Path(folder_paths.get_temp_directory()) / entry["subfolder"] / entry["filename"]
        thumbnail = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).float() / 255
        errors = [float((thumbnail - strip).abs().mean()) for strip in strips]  # the thumbnail is a JPEG
        assert thumbnail.shape == strips[0].shape
        own = errors[int(entry["rank"]) - 1]
        assert own < 0.1 and all(own < error / 2 for error in errors if error != own), errors

