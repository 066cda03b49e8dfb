"""Turns the libraries' user-fixable errors into messages that name the node the user must fix."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..search import NonFiniteScore, SearchConfigError
from ..verifiers import VerifierConditionError, VerifierConfigError, VerifierWeightsMissing
from ..verifiers.downloads import DownloadFailed


class NodeInputError(ValueError):
    """A node's inputs cannot work; the message starts with the node's display name."""


@contextmanager
def reported_as(node_name: str) -> Iterator[None]:
    try:
        yield
    except (NonFiniteScore, SearchConfigError, VerifierConditionError, VerifierConfigError, VerifierWeightsMissing,
            DownloadFailed) as error:
        raise NodeInputError(f"{node_name}: {error}") from error
