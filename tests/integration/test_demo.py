"""The README's main job, run as a user runs it: a separate process, headless, on the CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_prints_the_candidates_and_writes_the_best_image(tmp_path):
    output = tmp_path / "best.png"
    completed = subprocess.run(
        [sys.executable, "-m", "headless.demo", "--candidates", "3", "--batch-size", "2", "--steps", "3",
         "--output", str(output)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = completed.stdout.splitlines()
    assert any(line.startswith("random search: 3 candidates, 18 NFEs searching") for line in table)
    assert sum(line.strip().split()[0] in {"1", "2", "3"} for line in table if line.strip()) >= 3
    assert Image.open(output).size == (64, 64)
