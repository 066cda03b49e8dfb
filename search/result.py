"""What a search returns: every candidate it scored, and the winner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Candidate:
    """One scored sample. ``latent`` is shaped ``[1, ...]``; ``nfes`` is its share of the sampler's cost."""

    index: int
    seed: int
    score: float
    nfes: int
    latent: torch.Tensor = field(repr=False)


@dataclass(frozen=True)
class SearchResult:
    """Candidates in the order they were generated, with the search's parameters and total cost."""

    algorithm: str
    parameters: dict[str, Any]
    candidates: tuple[Candidate, ...]
    nfes: int

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("a search result needs at least one candidate")

    @property
    def ranked(self) -> tuple[Candidate, ...]:
        """Candidates by descending score; ties keep generation order."""
        return tuple(sorted(self.candidates, key=lambda c: (-c.score, c.index)))

    @property
    def best(self) -> Candidate:
        return self.ranked[0]

    def ranked_latents(self) -> torch.Tensor:
        return torch.cat([candidate.latent for candidate in self.ranked], dim=0)

    def to_report(self) -> dict[str, Any]:
        """A JSON-serialisable summary: parameters, cost and every candidate's seed, score and NFEs."""
        return {
            "algorithm": self.algorithm,
            "parameters": dict(self.parameters),
            "nfes": self.nfes,
            "best_index": self.best.index,
            "candidates": [
                {"index": c.index, "seed": c.seed, "score": c.score, "nfes": c.nfes}
                for c in self.candidates
            ],
        }

    def format_table(self) -> str:
        """A plain-text table of the candidates by rank, for consoles and the graph."""
        lines = [f"{'rank':>4}  {'candidate':>9}  {'seed':>20}  {'score':>12}  {'NFEs':>6}"]
        for rank, c in enumerate(self.ranked, start=1):
            lines.append(f"{rank:>4}  {c.index:>9}  {c.seed:>20}  {c.score:>12.6f}  {c.nfes:>6}")
        lines.append(f"{self.algorithm}: {len(self.candidates)} candidates, {self.nfes} NFEs in total")
        return "\n".join(lines)
