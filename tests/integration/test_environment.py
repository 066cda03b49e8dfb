"""The pack's requirements install beside ComfyUI's, open_clip_torch and current transformers without conflicts."""

from __future__ import annotations

import subprocess
import sys


def test_pip_check_is_clean_in_the_environment_the_tests_run_in():
    completed = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr

