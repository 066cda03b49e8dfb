"""Resolving a loader's weights: models/verifiers, then the local Hugging Face cache, then an opt-in download.

Anything else is an error naming the file, where to put it and where to get it.
"""

from __future__ import annotations

from pathlib import Path

import comfy.utils

from ..verifiers import VerifierWeightsMissing
from ..verifiers.downloads import KNOWN_SOURCES, fetch, hub_cache_folder
from .models_folder import list_verifier_weights, resolve_verifier_weights, verifier_dirs

DOWNLOAD_HINT = " Or turn on download in the loader to fetch it."


def weight_options(kind: str) -> list[str]:
    """What a loader offers: the files present plus the known ones of its kind that can be downloaded."""
    return sorted(set(list_verifier_weights()) | {name for name, source in KNOWN_SOURCES.items() if source.kind == kind})


def missing_message(name: str, how_to_get: str) -> str:
    return how_to_get + (DOWNLOAD_HINT if name in KNOWN_SOURCES else "")


def find_weights(name: str, how_to_get: str) -> Path:
    """The weights in the verifiers folders or the Hugging Face cache, else VerifierWeightsMissing."""
    try:
        return resolve_verifier_weights(name, missing_message(name, how_to_get))
    except VerifierWeightsMissing:
        cached = hub_cache_folder(KNOWN_SOURCES[name]) if name in KNOWN_SOURCES else None
        if cached is None:
            raise
        return cached


def ensure_weights(name: str, download: bool, how_to_get: str) -> Path:
    """The weights' path, downloading them first (with a progress bar) when allowed and known."""
    try:
        return find_weights(name, how_to_get)
    except VerifierWeightsMissing:
        if not (download and name in KNOWN_SOURCES):
            raise
    bar = comfy.utils.ProgressBar(100)
    fetch(KNOWN_SOURCES[name], verifier_dirs()[0],
          lambda done, total: bar.update_absolute(int(100 * done / total) if total else 0, 100))
    return resolve_verifier_weights(name, how_to_get)
