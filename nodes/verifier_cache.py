"""Verifiers built once per process: loading the same weights with the same settings reuses the model.

ComfyUI re-executes a loader node whenever its inputs or the prompt change; the weights on disk
rarely do. Entries are keyed by what identifies the files' content plus the loader's settings; the
few most recently used stay, and ComfyUI's model management decides where their weights live.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError

from ..verifiers import Verifier, VerifierConditionError, VerifierConfigError, VerifierWeightsMissing
from .comfy_scoring import ManagedVerifier
from .weights import find_weights

MAX_CACHED_VERIFIERS = 4
SMALL_FILE_BYTES = 4 << 20
"""Files up to this size (configs, tokenizers, heads) are also identified by a hash of their bytes."""

UNREADABLE_WEIGHTS = (OSError, ValueError, KeyError, RuntimeError, AssertionError, pickle.UnpicklingError, SafetensorError)
"""What reading a truncated, corrupt or mismatched file raises in torch, safetensors, open_clip and transformers."""

_cache: OrderedDict[tuple, ManagedVerifier] = OrderedDict()


def file_identity(path: Path) -> tuple:
    """Size, mtime, ctime and inode of the file (following symlinks), plus a hash of its bytes when it is small.

    The status-change time (ctime) is set by the system on every write and rename and no tool sets it
    back, so on Linux and macOS a file rewritten in place with an older mtime and the same size still
    gets a new key. On Windows ctime is the creation time; there the hash covers small files.
    """
    status = path.stat()
    identity: tuple = (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino)
    if status.st_size <= SMALL_FILE_BYTES:
        identity += (hashlib.sha256(path.read_bytes()).hexdigest(),)
    return identity


def folder_files(folder: Path) -> list[Path]:
    """The files of a weights folder, walked as ComfyUI lists model folders: through symlinks, skipping .git."""
    files = []
    for parent, subfolders, names in os.walk(folder, followlinks=True):
        subfolders[:] = [name for name in subfolders if name != ".git"]
        files += [file for file in (Path(parent, name) for name in names) if file.is_file()]
    return sorted(files)


def content_key(path: Path) -> tuple:
    """What identifies a weights file, or every file of a weights folder."""
    if not path.is_dir():
        return str(path), file_identity(path)
    return str(path), tuple((file.relative_to(path).as_posix(), file_identity(file)) for file in folder_files(path))


def weights_fingerprint(*names: str) -> tuple:
    """A loader's ``fingerprint_inputs``: what identifies the content of the weights it would load.

    ComfyUI reuses a node's output while its inputs and this value stay the same, so a weights file
    replaced while ComfyUI runs is loaded again on the next prompt. A missing file counts as its name.
    """
    fingerprint = []
    for name in names:
        try:
            fingerprint.append(content_key(find_weights(name, "")))
        except (VerifierWeightsMissing, VerifierConfigError):
            fingerprint.append(name)
    return tuple(fingerprint)


def cached_verifier(kind: str, paths: list[Path], settings: tuple[Any, ...], build: Callable[[], Verifier]) -> ManagedVerifier:
    """The verifier built from ``paths`` with ``settings``, built now unless an identical one is cached.

    Files that cannot be read as the model raise a VerifierConfigError naming them and the reason.
    """
    key = (kind, *(content_key(path) for path in paths), *settings)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    try:
        verifier = build()
    except (VerifierConfigError, VerifierConditionError, VerifierWeightsMissing, torch.cuda.OutOfMemoryError):
        raise
    except UNREADABLE_WEIGHTS as error:
        names = ", ".join(f"'{path.name}'" for path in paths)
        raise VerifierConfigError(
            f"{names} could not be loaded ({type(error).__name__}: {error}). Check that the files are complete "
            "(a download cut short leaves a truncated file) and are what this loader reads; for a single checkpoint "
            "file, that the architecture input matches it."
        ) from error
    managed = ManagedVerifier(verifier)
    _cache[key] = managed
    while len(_cache) > MAX_CACHED_VERIFIERS:
        _cache.popitem(last=False)
    return managed
