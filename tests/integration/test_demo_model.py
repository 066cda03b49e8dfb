"""The committed demo model draws digits the evaluation classifier recognises, and search measurably helps.

These are the issue's acceptance checks for the trained model, on fixed seeds: real effects, asserted.
"""

from __future__ import annotations

import json

import pytest
import torch

from demo_model import EVALUATOR_FILE, UNET_FILE, VERIFIER_FILE, WEIGHTS_DIR
from verifiers.digit_classifier import DigitClassLogitVerifier, classifier_input, load_digit_classifier

DIGITS = range(10)


def plain_samples(comfyui, digit: int, seed: int, count: int) -> torch.Tensor:
    """``count`` images from one KSampler call (its batch indices give distinct noises)."""
    prompt = {
        "1": {"class_type": "NoiseSearchDemoModelLoader", "inputs": {}},
        "2": {"class_type": "NoiseSearchDemoDigit", "inputs": {"digit": digit}},
        "3": {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["2", 2], "amount": count}},
        "4": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": 20, "cfg": 3.0, "sampler_name": "euler", "scheduler": "karras",
            "positive": ["2", 0], "negative": ["2", 1], "latent_image": ["3", 0], "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 1]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
    }
    return comfyui.run(prompt).outputs("5")[0]


def searched_sample(comfyui, digit: int, seed: int, candidates: int) -> tuple[torch.Tensor, float]:
    """The random-search winner's image and its verifier score."""
    prompt = {
        "1": {"class_type": "NoiseSearchDemoModelLoader", "inputs": {}},
        "2": {"class_type": "NoiseSearchDemoDigit", "inputs": {"digit": digit}},
        "3": {"class_type": "NoiseSearchDemoDigitVerifierLoader", "inputs": {"kind": "class logit", "probe_level": 0.4}},
        "4": {"class_type": "NoiseSearchRandomSearch",
              "inputs": {"num_candidates": candidates, "batch_size": 8, "search_steps": 0, "max_nfes": 0}},
        "5": {"class_type": "NoiseSearchSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": 20, "cfg": 3.0, "sampler_name": "euler", "scheduler": "karras",
            "positive": ["2", 0], "negative": ["2", 1], "latent_image": ["2", 2], "denoise": 1.0,
            "vae": ["1", 1], "verifier": ["3", 0], "algorithm": ["4", 0], "verifier_text": str(digit)}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 1]}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
    }
    run = comfyui.run(prompt)
    return run.outputs("6")[0], json.loads(run.outputs("5")[3])["best_score"]


def test_the_weights_are_committed_and_small():
    sizes = {name: (WEIGHTS_DIR / name).stat().st_size for name in (UNET_FILE, VERIFIER_FILE, EVALUATOR_FILE)}
    assert sum(sizes.values()) <= 10 * 2**20, sizes


def test_the_evaluation_classifier_recognises_the_requested_digit_well_above_chance(comfyui):
    evaluator = load_digit_classifier(WEIGHTS_DIR / EVALUATOR_FILE)
    correct = 0
    for digit in DIGITS:
        images = plain_samples(comfyui, digit, seed=100 + digit, count=4)
        with torch.no_grad():
            correct += int((evaluator(classifier_input(images)).argmax(dim=1) == digit).sum())
    accuracy = correct / (4 * len(DIGITS))
    assert accuracy >= 0.6, f"evaluator accuracy {accuracy:.2f} on 40 plain samples (chance: 0.10)"


def test_random_search_with_the_classifier_verifier_raises_the_mean_verifier_score(comfyui):
    verifier = DigitClassLogitVerifier(load_digit_classifier(WEIGHTS_DIR / VERIFIER_FILE))
    single, searched = [], []
    for digit in DIGITS:
        for seed in (7, 8):
            image, _ = searched_sample(comfyui, digit, 1000 * digit + seed, candidates=1)
            single.append(float(verifier.score(image, str(digit))))
            image, best = searched_sample(comfyui, digit, 1000 * digit + seed, candidates=8)
            searched.append(float(verifier.score(image, str(digit))))
            assert searched[-1] == pytest.approx(best, abs=1e-4)  # the winner's image is the one that was scored
            assert searched[-1] >= single[-1] - 1e-4  # N = 8 includes the N = 1 candidate (same seed)
    gain = sum(searched) / len(searched) - sum(single) / len(single)
    assert gain >= 1.0, f"mean verifier score {sum(single) / len(single):.2f} at N=1, {sum(searched) / len(searched):.2f} at N=8"


def test_a_file_that_is_not_the_demo_unet_is_refused(comfyui, tmp_path):
    from safetensors.torch import save_file

    from demo_model.comfy_model import load_demo_model

    save_file({"input_blocks.0.0.weight": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="does not hold the demo digit UNet.*demo_model.train"):
        load_demo_model(tmp_path / "other.safetensors")
