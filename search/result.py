"""What a search returns: every candidate it scored, the winner, and what it all cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch

from .recipes import Recipe


@dataclass(frozen=True)
class Candidate:
    """One scored sample.

    ``latent`` is shaped ``[1, ...]``, held only for the best finished candidates of a search (see
    :class:`.tracking.SearchLog`), else None; ``nfes`` is what this candidate's own sampling cost;
    ``recipe`` re-makes it (see :mod:`.recipes`); ``parent`` is the candidate it was derived from
    (zero-order pivots, path branches), ``round`` the iteration that made it. ``kept``: the algorithm
    carried it forward (a path branch among the top N of its round). ``final``: a finished sample that
    can win; a path branch scored halfway holds its x0 prediction in ``latent`` and is not final.
    """

    index: int
    score: float
    nfes: int
    recipe: Recipe
    latent: torch.Tensor | None = field(default=None, repr=False)
    parent: int | None = None
    round: int = 0
    kept: bool = True
    final: bool = True

    @property
    def seed(self) -> int:
        """The seed of the candidate's initial noise."""
        return self.recipe[0]["seed"]

    def to_report(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "seed": self.seed,
            "score": self.score,
            "nfes": self.nfes,
            "parent": self.parent,
            "round": self.round,
            "kept": self.kept,
            "final": self.final,
            "recipe": self.recipe,
        }


@dataclass(frozen=True)
class SearchResult:
    """Candidates in the order they were made, with the search's parameters and its NFE accounting.

    ``curve`` is the best score so far after each batch, as ``(NFEs spent, best score, verifier seconds
    spent)``; ``verifier_seconds`` is the search's total time in the verifier (0 when the scorer does not
    time itself), the cost beside NFEs that a large verifier adds.
    ``plain_image_nfes`` is what one image costs with plain sampling at the final step count.
    ``render_nfes`` is what re-rendering the winner at the final step count cost (0 when the search
    already ran the full schedule). ``resampling`` is FK steering's account of each resampling step
    (its effective sample size, whether it resampled, each particle's ancestor); empty for the others.
    ``render_score`` is the verifier's score of that render (None when
    the search's own final sample is the result, so the winner's score is already the final one).
    ``score_columns`` holds an ensemble's per-verifier scores of every candidate (None for one
    verifier), so a render can be scored against the same set.
    """

    algorithm: str
    parameters: dict[str, Any]
    candidates: tuple[Candidate, ...]
    search_nfes: int
    curve: tuple[tuple[int, float, float], ...]
    best_latent: torch.Tensor = field(repr=False)
    best_recipe: Recipe = field(default_factory=list)
    resampling: tuple[dict[str, Any], ...] = ()
    plain_image_nfes: int = 0
    render_nfes: int = 0
    verifier_seconds: float = 0.0
    render_score: float | None = None
    score_columns: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("a search result needs at least one candidate")

    @cached_property
    def ranked(self) -> tuple[Candidate, ...]:
        """Finished candidates by descending score; ties keep generation order."""
        final = [c for c in self.candidates if c.final]
        return tuple(sorted(final, key=lambda c: (-c.score, c.index)))

    @property
    def best(self) -> Candidate:
        return self.ranked[0]

    @property
    def final_score(self) -> float:
        """The verifier's score of ``best_latent``: the render's when the winner was re-rendered, else the winner's."""
        return self.best.score if self.render_score is None else self.render_score

    def lineage(self, candidate: Candidate) -> list[Candidate]:
        """The candidate's earlier scorings of the same sample (its x0 previews at checkpoints), first to last.

        Follows ``parent`` through records that are not finished samples: a zero-order pivot is another
        sample, a pruned candidate's or path branch's earlier record is this one halfway.
        """
        chain = [candidate]
        while chain[-1].parent is not None and not self.candidates[chain[-1].parent].final:
            chain.append(self.candidates[chain[-1].parent])
        return chain[::-1]

    @property
    def nfes(self) -> int:
        return self.search_nfes + self.render_nfes

    def ranked_latents(self) -> torch.Tensor:
        """The held latents (at most ``HELD_CANDIDATES``: the best finished candidates), best first."""
        return torch.cat([candidate.latent for candidate in self.ranked if candidate.latent is not None], dim=0)

    def to_report(self) -> dict[str, Any]:
        """A JSON-serialisable account: parameters, costs, the winner's recipe and every candidate."""
        return {
            "algorithm": self.algorithm,
            "parameters": dict(self.parameters),
            "nfes": {
                "search": self.search_nfes,
                "render": self.render_nfes,
                "total": self.nfes,
                "plain_image": self.plain_image_nfes,
            },
            "verifier_seconds": self.verifier_seconds,
            "best_index": self.best.index,
            "best_score": self.best.score,
            "final_score": self.final_score,
            "final_rescored": self.render_score is not None,
            "best_recipe": self.best_recipe,
            "curve": [list(point) for point in self.curve],
            "candidates": [c.to_report() for c in self.candidates],
            **({"resampling": [dict(step) for step in self.resampling]} if self.resampling else {}),
        }

    def format_table(self, limit: int = 32) -> str:
        """A plain-text table of the best candidates by rank, for consoles and the graph."""
        lines = [f"{'rank':>4}  {'candidate':>9}  {'seed':>20}  {'score':>12}  {'NFEs':>6}"]
        for rank, c in enumerate(self.ranked[:limit], start=1):
            lines.append(f"{rank:>4}  {c.index:>9}  {c.seed:>20}  {c.score:>12.6f}  {c.nfes:>6}")
        if len(self.ranked) > limit:
            lines.append(f"... {len(self.ranked) - limit} more")
        lines.extend(self.winner_lines())
        finished = sum(c.final for c in self.candidates)
        counted = (f"{finished} candidates" if finished == len(self.candidates)
                   else f"{len(self.candidates)} scored states ({finished} finished)")
        lines.append(
            f"{self.algorithm}: {counted}, {self.search_nfes} NFEs searching"
            + (f" + {self.render_nfes} rendering the winner" if self.render_nfes else "")
            + (f" (one plain image: {self.plain_image_nfes})" if self.plain_image_nfes else "")
            + (f"; verifier {self.verifier_seconds:.2f} s" if self.verifier_seconds else "")
        )
        return "\n".join(lines)

    def winner_lines(self) -> list[str]:
        """The winner's scores before its final one (x0 previews), and its final render's score when re-rendered."""
        lines = []
        chain = self.lineage(self.best)
        if len(chain) > 1:
            scores = [f"step {_stop_of(c.recipe)} x0 {c.score:.6g}" for c in chain[:-1]]
            lines.append("winner's previews: " + " -> ".join(scores) + f" -> final {self.best.score:.6g}")
        if self.render_score is not None:
            lines.append(f"winner: search score {self.best.score:.6g}, final render score {self.render_score:.6g} "
                         f"(re-scored at {_stop_of(self.best_recipe)} steps)")
        return lines


def _stop_of(recipe: Recipe) -> int:
    """The schedule index where a recipe's last denoise segment stops."""
    return next(op["stop"] for op in reversed(recipe) if op["op"] == "denoise")
