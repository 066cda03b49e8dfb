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
