"""A real ComfyUI server (the pinned tree, its real front end) with this pack, on the CPU, for browser tests.

The server's base directory holds the pack (linked into custom_nodes/), the models, and user settings
that keep a fresh browser profile free of first-run dialogs. It binds 127.0.0.1 on a free port and is
always stopped.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .comfy_env import REPO_ROOT, comfyui_path

PACK_LINK_NAME = "comfyui-noise-search"
FRESH_PROFILE_SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.Notification.ShowVersionUpdates": False,
    "Comfy.Canvas.LeftMouseClickBehavior": "legacy",
    "Comfy.Canvas.MouseWheelScroll": "standard",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare_base_directory(base: Path, extra_custom_nodes: dict[str, str]) -> None:
    """Link the pack into custom_nodes/, add single-file helper nodes, and write first-run settings."""
    custom_nodes = base / "custom_nodes"
    custom_nodes.mkdir(parents=True, exist_ok=True)
    link = custom_nodes / PACK_LINK_NAME
    if not link.exists():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    for filename, source in extra_custom_nodes.items():
        (custom_nodes / filename).write_text(source)
    settings = base / "user" / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(FRESH_PROFILE_SETTINGS))


@contextmanager
def running_server(base: Path, log_path: Path, timeout: float = 90.0) -> Iterator[str]:
    """Start ``main.py`` on a free port; yield its URL once /object_info lists the pack's nodes."""
    port = free_port()
    command = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
               "--disable-auto-launch", "--disable-api-nodes", "--base-directory", str(base)]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=comfyui_path(), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(url, process, timeout, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ComfyUI exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/object_info/NoiseSearchSampler", timeout=5) as response:
                if "NoiseSearchSampler" in response.read().decode():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"ComfyUI did not start within {timeout} s; see {log_path}")
