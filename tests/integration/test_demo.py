"""The README's main job, run as a user runs it: a separate process, headless, on the CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_prints_the_candidates_and_writes_the_winner_and_the_contact_sheet(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "headless.demo", "--digit", "3", "--candidates", "4", "--batch-size", "2",
         "--steps", "5", "--output-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = completed.stdout.splitlines()
    assert any(line.startswith("random search: 4 candidates, 40 NFEs searching") for line in table)
    ranks = [line.split()[0] for line in table if line.strip() and line.split()[0].isdigit()]
    assert ranks == ["1", "2", "3", "4"]
    assert Image.open(tmp_path / "demo_best.png").size == (128, 128)
    sheet = Image.open(tmp_path / "demo_candidates.png")
    assert sheet.width > 4 * 96 and sheet.height > 96


def test_the_demo_runs_the_other_algorithms_and_the_self_supervised_verifier(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "headless.demo", "--algorithm", "zero-order", "--verifier", "self-supervised",
         "--candidates", "5", "--steps", "5", "--output-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "self-supervised verifier, zero-order search" in completed.stdout
    assert any(line.startswith("zero-order search: 5 candidates, 50 NFEs searching") for line in completed.stdout.splitlines())
    assert (tmp_path / "demo_best.png").is_file() and (tmp_path / "demo_candidates.png").is_file()
