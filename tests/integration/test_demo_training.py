"""The demo model's training is one command and reproducible from its seed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from demo_model import EVALUATOR_FILE, UNET_FILE, VERIFIER_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]


def train(output: Path, seed: int, *options: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "demo_model.train", "--seed", str(seed), "--steps", "3", "--batch-size", "8",
         "--classifier-epochs", "1", "--output", str(output), *options],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


def stored(path: Path) -> tuple[dict[str, str], dict[str, bytes]]:
    """A safetensors file's metadata and tensors (its header's key order is not fixed, so not its bytes)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        return handle.metadata() or {}, {key: handle.get_tensor(key).numpy().tobytes() for key in handle.keys()}


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(tmp_path):
    train(tmp_path / "a", seed=5)
    train(tmp_path / "b", seed=5)
    train(tmp_path / "c", seed=6)
    for name in (UNET_FILE, VERIFIER_FILE, EVALUATOR_FILE):
        a, b, c = (stored(tmp_path / run / name) for run in "abc")
        assert a == b, name
        assert a != c, name
    report = json.loads((tmp_path / "a" / "training.json").read_text())
    assert report["command"].startswith("python -m demo_model.train --seed 5 --steps 3")

    shutil.copytree(tmp_path / "c", tmp_path / "d")
    train(tmp_path / "d", 5, "--classifiers-only")
    assert stored(tmp_path / "d" / UNET_FILE) == stored(tmp_path / "c" / UNET_FILE)  # kept
    for name in (VERIFIER_FILE, EVALUATOR_FILE):
        assert stored(tmp_path / "d" / name) == stored(tmp_path / "a" / name), name  # retrained from seed 5
    kept = json.loads((tmp_path / "d" / "training.json").read_text())
    assert kept["command"] == "python -m demo_model.train --seed 5 --classifiers-only --classifier-epochs 1"
    assert kept["unet"]["command"] == json.loads((tmp_path / "c" / "training.json").read_text())["unet"]["command"]
    assert kept["unet"]["command"].startswith("python -m demo_model.train --seed 6 --steps 3")


def test_the_training_target_is_what_comfyuis_model_sampling_turns_back_into_the_clean_image(comfyui):
    from demo_model.comfy_model import build_model
    from demo_model.train import v_target

    sampling = build_model().model_sampling
    generator = torch.Generator().manual_seed(0)
    clean, noise = torch.rand(4, 3, 16, 16, generator=generator) * 2 - 1, torch.randn(4, 3, 16, 16, generator=generator)
    sigma = sampling.sigmas[torch.tensor([0, 10, 500, 999])]
    noisy = clean + noise * sigma.view(-1, 1, 1, 1)
    denoised = sampling.calculate_denoised(sigma, v_target(clean, noise, sigma), noisy)
    torch.testing.assert_close(denoised, clean, rtol=1e-4, atol=1e-4)
