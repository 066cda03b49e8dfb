"""The README's commands ask before they install outside the project: the main job's set-up never runs apt,
and the test command's browser install says what it installs before it does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from headless.comfy_env import REPO_ROOT, comfyui_path

TOOLS = ("bash", "sh", "python3", "grep", "uname", "id", "dirname", "cat", "sed", "env")


def path_without_chromium(bin_dir: Path) -> str:
    """A PATH of the few tools the scripts use, a recording ``apt-get``, and no ``chromium``."""
    bin_dir.mkdir()
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    fake_apt = bin_dir / "apt-get"
    fake_apt.write_text(f'#!/bin/sh\necho "apt-get $*" >> {bin_dir / "apt-calls.log"}\necho "APT CALLED"\nexit 1\n')
    fake_apt.chmod(0o755)
    return str(bin_dir)


def installed_torch_family() -> str:
    """This venv's torch family pinned as installed, so set-up re-checks it and installs none."""
    pins = []
    for name in ("torch", "torchvision", "torchaudio"):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pass
    return " ".join(pins)


def test_the_main_jobs_setup_installs_nothing_with_apt(tmp_path):
    bin_dir = tmp_path / "bin"
    env = {"PATH": path_without_chromium(bin_dir), "HOME": os.environ.get("HOME", "/root"),
           "NOISE_SEARCH_VENV": sys.prefix, "COMFYUI_PATH": str(comfyui_path()),
           "TORCH_PACKAGES": installed_torch_family()}
    completed = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert not (bin_dir / "apt-calls.log").exists()
    assert "chromium" not in (completed.stdout + completed.stderr).lower()


def test_the_browser_install_says_what_it_installs_before_apt_runs(tmp_path):
    bin_dir = tmp_path / "bin"
    env = {"PATH": path_without_chromium(bin_dir), "HOME": os.environ.get("HOME", "/root")}
    completed = subprocess.run(["bash", "scripts/install_browser.sh"], cwd=REPO_ROOT, env=env, capture_output=True,
                               text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    if os.getuid() == 0:
        announced = output.index("installing Debian's chromium and fonts-liberation")
        assert announced < output.index("APT CALLED")
        assert (bin_dir / "apt-calls.log").read_text().splitlines()[0] == "apt-get update -qq"
        assert "could not install chromium; the browser test will be skipped" in output
    else:
        assert "apt-get install chromium fonts-liberation" in output and not (bin_dir / "apt-calls.log").exists()
