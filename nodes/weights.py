"""Resolving a loader's weights: models/verifiers, then the local Hugging Face cache, then an opt-in download.

Anything else is an error naming the file, where to put it and where to get it. A known source of several
files counts as there only when all its files are, at their known sizes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import comfy.model_management
import comfy.utils

from ..verifiers import VerifierWeightsMissing
from ..verifiers.downloads import (
    KNOWN_SOURCES,
    IncompleteWeights,
    WeightSource,
    describe_download,
    fetch,
    hub_cache_path,
    remove_stale_parts,
)
from .models_folder import list_verifier_weights, resolve_verifier_weights, verifier_dirs

logger = logging.getLogger(__name__)

DOWNLOAD_HINT = " Or turn on download in the loader to fetch it."
NOT_DOWNLOADED = " The pack does not download it: no published checksum was found to verify it against."


def weight_options(kind: str) -> list[str]:
    """What a loader offers: the files present plus the known ones of its kind that can be downloaded."""
    return sorted(set(list_verifier_weights()) | {name for name, source in KNOWN_SOURCES.items() if source.kind == kind})


def downloadable(name: str) -> bool:
    source = KNOWN_SOURCES.get(name)
    return source is not None and source.downloadable


def missing_message(name: str, how_to_get: str) -> str:
    if name not in KNOWN_SOURCES:
        return how_to_get
    return how_to_get + (DOWNLOAD_HINT if downloadable(name) else NOT_DOWNLOADED)


def root_holding(name: str) -> Path | None:
    """The first verifiers folder that has something at ``name`` (where resolve_verifier_weights finds it)."""
    return next((root for root in verifier_dirs() if (root / name).exists()), None)


def require_complete(name: str, source: WeightSource, root: Path, how_to_get: str) -> None:
    problems = source.problems(root)
    if problems:
        remove_stale_parts(source, root)
        fix = ("Turn on download in the loader to complete it (first delete a file of another size: an unfinished "
               "or other copy), or rename it to use these files as your own." if source.downloadable else how_to_get)
        raise IncompleteWeights(name, root, problems, fix)


def find_weights(name: str, how_to_get: str) -> Path:
    """The weights in the verifiers folders or the Hugging Face cache, else VerifierWeightsMissing."""
    source = KNOWN_SOURCES.get(name)
    try:
        path = resolve_verifier_weights(name, missing_message(name, how_to_get))
    except VerifierWeightsMissing:
        cached = hub_cache_path(source) if source is not None else None
        if cached is None:
            raise
        return cached
    root = root_holding(name)
    if source is not None and root is not None:
        require_complete(name, source, root, how_to_get)
    return path


def ensure_weights(name: str, download: bool, how_to_get: str) -> Path:
    """The weights' path, downloading them first (logged, with a progress bar, cancellable) when allowed and known."""
    try:
        return find_weights(name, how_to_get)
    except VerifierWeightsMissing:
        if not (download and downloadable(name)):
            raise
    source = KNOWN_SOURCES[name]
    root = root_holding(name) or verifier_dirs()[0]
    logger.info("[Noise Search] %s", describe_download(name, source, root))
    fetch(source, root, percent_bar(), comfy.model_management.throw_exception_if_processing_interrupted)
    return find_weights(name, how_to_get)


def percent_bar() -> Callable[[int, int], None]:
    """A progress callback that moves ComfyUI's progress bar once per percent (not once per chunk)."""
    bar, shown = comfy.utils.ProgressBar(100), [-1]

    def update(done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent != shown[0]:
            shown[0] = percent
            bar.update_absolute(percent, 100)

    return update
