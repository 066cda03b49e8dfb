"""The ``models/verifiers`` folder, registered beside ComfyUI's own model folders.

Its files are listed by ComfyUI's own ``folder_paths.get_filename_list``, which walks the folders
(following symlinks) once and walks them again only when a folder's modification time changes:
the loaders' schemas read the listing on every request, and a folder of thousands of files would
otherwise be walked each time. What the loaders derive from the listing is computed once per listing.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import posixpath
from pathlib import Path, PurePath

import folder_paths

from ..verifiers import VerifierConfigError, VerifierWeightsMissing, list_open_clip_weights

FOLDER_NAME = "verifiers"


def register_verifiers_folder() -> None:
    """Add ``models/verifiers`` (extra_model_paths.yaml can add more under the same name)."""
    folder_paths.add_model_folder_path(FOLDER_NAME, os.path.join(folder_paths.models_dir, FOLDER_NAME))


def verifier_dirs() -> list[Path]:
    return [Path(p) for p in folder_paths.get_folder_paths(FOLDER_NAME)]


def verifier_files() -> tuple[str, ...]:
    """Every file in the verifiers folders, '/'-separated and relative to its folder (ComfyUI's cached listing)."""
    return _posix_names(tuple(folder_paths.get_filename_list(FOLDER_NAME)))


@functools.lru_cache(maxsize=1)
def _posix_names(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name.replace(os.sep, "/") for name in names)


@functools.lru_cache(maxsize=1)
def _open_clip_weights(files: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(list_open_clip_weights(files))


@functools.lru_cache(maxsize=8)
def _folders_holding(files: tuple[str, ...], filename: str) -> tuple[str, ...]:
    return tuple(sorted({posixpath.dirname(name) for name in files
                         if posixpath.basename(name) == filename and posixpath.dirname(name)}))


@functools.lru_cache(maxsize=8)
def _matching_files_and_folders(files: tuple[str, ...], pattern: str) -> tuple[str, ...]:
    matches = [name for name in files if fnmatch.fnmatchcase(posixpath.basename(name), pattern)]
    return tuple(sorted({*matches, *(posixpath.dirname(name) for name in matches if posixpath.dirname(name))}))


def list_verifier_weights() -> list[str]:
    return list(_open_clip_weights(verifier_files()))


def folders_holding(filename: str) -> list[str]:
    """Folders (not the verifiers folders themselves) that hold a file of this name."""
    return list(_folders_holding(verifier_files(), filename))


def files_and_folders_matching(pattern: str) -> list[str]:
    """Files whose name matches a glob ``pattern``, and the folders (not the verifiers folders themselves) holding them."""
    return list(_matching_files_and_folders(verifier_files(), pattern))


def list_transformers_folders() -> list[str]:
    """Folders under the verifiers folders that hold a transformers model (a config.json)."""
    return folders_holding("config.json")


def resolve_verifier_weights(name: str, how_to_get: str) -> Path:
    """The path of a weights file or folder in the verifiers folders, or an error saying where to put it.

    The name must stay inside a verifiers folder as written (no absolute path, no '..'); symlinks in the
    folder are followed wherever they point, as ComfyUI's own model folders do.
    """
    relative = PurePath(name)
    if not relative.parts or relative.anchor or ".." in relative.parts:
        raise VerifierConfigError(
            f"'{name}' is not a name inside the verifiers folder; choose a file or folder listed in models/verifiers"
        )
    for directory in verifier_dirs():
        candidate = directory / relative
        if candidate.exists():
            return candidate
    raise VerifierWeightsMissing(name, verifier_dirs()[0], how_to_get)
