"""Errors a user can fix: missing weights, and a verifier given the wrong kind of condition."""

from __future__ import annotations

from pathlib import Path


class VerifierWeightsMissing(FileNotFoundError):
    """Weights for a verifier are not where the loader looks; the message says where to put them."""

    def __init__(self, name: str, expected_dir: Path, how_to_get: str) -> None:
        super().__init__(
            f"verifier weights '{name}' not found. Put the file (or folder) at {expected_dir / name}. {how_to_get}"
        )
        self.name = name
        self.expected_dir = expected_dir


class VerifierConditionError(ValueError):
    """The verifier needs a condition it was not given, or cannot use the one it was given."""


class VerifierConfigError(ValueError):
    """The verifier's weights or settings do not describe a model the loader can build."""
