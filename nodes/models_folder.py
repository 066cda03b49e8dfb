"""The ``models/verifiers`` folder, registered beside ComfyUI's own model folders."""

from __future__ import annotations

import os
from pathlib import Path

import folder_paths

from ..verifiers import VerifierWeightsMissing, list_open_clip_weights

FOLDER_NAME = "verifiers"


def register_verifiers_folder() -> None:
    """Add ``models/verifiers`` (extra_model_paths.yaml can add more under the same name)."""
    folder_paths.add_model_folder_path(FOLDER_NAME, os.path.join(folder_paths.models_dir, FOLDER_NAME))


def verifier_dirs() -> list[Path]:
    return [Path(p) for p in folder_paths.get_folder_paths(FOLDER_NAME)]


def list_verifier_weights() -> list[str]:
    return list_open_clip_weights(verifier_dirs())


def resolve_verifier_weights(name: str, how_to_get: str) -> Path:
    """The path of a weights file or folder in the verifiers folders, or an error saying where to put it."""
    for directory in verifier_dirs():
        candidate = (directory / name).resolve()
        if candidate.is_relative_to(directory.resolve()) and candidate.exists():
            return candidate
    raise VerifierWeightsMissing(name, verifier_dirs()[0], how_to_get)


def list_transformers_folders() -> list[str]:
    """Folders under the verifiers folders that hold a transformers model (a config.json)."""
    return sorted({config.parent.relative_to(root).as_posix()
                   for root in verifier_dirs() if root.is_dir() for config in root.rglob("config.json")})
