"""Verifiers built once per process: loading the same weights with the same settings reuses the model.

ComfyUI re-executes a loader node whenever its inputs or the prompt change; the weights on disk
rarely do. Entries are keyed by the files' paths and modification times plus the loader's settings;
the few most recently used stay, and ComfyUI's model management decides where their weights live.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from ..verifiers import Verifier
from .comfy_scoring import ManagedVerifier

MAX_CACHED_VERIFIERS = 4

_cache: OrderedDict[tuple, ManagedVerifier] = OrderedDict()


def file_key(path: Path) -> tuple[str, float]:
    newest = max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0) if path.is_dir() \
        else path.stat().st_mtime
    return str(path), newest


def cached_verifier(kind: str, paths: list[Path], settings: tuple[Any, ...], build: Callable[[], Verifier]) -> ManagedVerifier:
    key = (kind, *(file_key(path) for path in paths), *settings)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    managed = ManagedVerifier(build())
    _cache[key] = managed
    while len(_cache) > MAX_CACHED_VERIFIERS:
        _cache.popitem(last=False)
    return managed
