"""Book-keeping shared by the algorithms: scoring a batch, recording candidates, the scaling curve."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import torch

from .protocols import Denoiser, Scorer, SearchMonitor
from .recipes import Recipe
from .result import Candidate, SearchResult


def checked_scores(scores: torch.Tensor, rows: int, columns: bool = False) -> torch.Tensor:
    """The scorer's output as a float tensor ``[rows]`` (or ``[rows, V]``), refusing a non-finite score."""
    scores = torch.as_tensor(scores).detach().float().cpu()
    if scores.ndim != (2 if columns else 1) or scores.shape[0] != rows:
        raise RuntimeError(f"the verifier returned scores of shape {tuple(scores.shape)} for {rows} images")
    if not torch.isfinite(scores).all():
        raise RuntimeError(f"the verifier returned a non-finite score: {scores.tolist()}")
    return scores


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class SearchLog:
    """Records candidates as batches are scored, and reports progress after each batch."""

    def __init__(self, denoiser: Denoiser, scorer: Scorer, monitor: SearchMonitor, total_candidates: int) -> None:
        self.denoiser = denoiser
        self.scorer = scorer
        self.monitor = monitor
        self.total_candidates = total_candidates
        self.start_nfes = denoiser.nfes
        self.candidates: list[Candidate] = []
        self.curve: list[tuple[int, float]] = []
        self.combine = getattr(scorer, "combine", None)
        self.verifier_scores: list[torch.Tensor] = []

    @property
    def spent(self) -> int:
        return self.denoiser.nfes - self.start_nfes

    def score(self, latents: torch.Tensor, probes: torch.Tensor | None) -> torch.Tensor:
        """This batch's scores; with a set-relative scorer, rescores everything recorded before too."""
        scores = checked_scores(self.scorer.score(latents, probes), latents.shape[0], columns=self.combine is not None)
        if self.combine is None:
            return scores
        self.verifier_scores.extend(scores)
        combined = checked_scores(self.combine(torch.stack(self.verifier_scores)), len(self.verifier_scores))
        self.candidates = [replace(c, score=float(combined[c.index])) for c in self.candidates]
        return combined[len(self.candidates) :]

    def latest(self, candidate: Candidate) -> Candidate:
        """The candidate as now scored (a set-relative score moves as candidates are added)."""
        return self.candidates[candidate.index]

    def record(
        self,
        latents: torch.Tensor,
        recipes: Sequence[Recipe],
        nfes_spent: int,
        make: Callable[[int, float, int, Recipe, torch.Tensor], Candidate] | None = None,
        probes: torch.Tensor | None = None,
    ) -> list[Candidate]:
        """Score a batch, record one candidate per row, and report progress.

        ``nfes_spent`` (what the batch's sampling cost) is shared evenly between its rows; ``make``
        builds each candidate from (index, score, nfes, recipe, latent) when defaults do not fit;
        ``probes`` are the rows' x0 predictions at the probe level, passed on to the scorer.
        """
        rows = latents.shape[0]
        per_row, remainder = divmod(nfes_spent, rows)
        if remainder:
            raise RuntimeError(f"the sampler evaluated {nfes_spent} rows for {rows} candidates; they cannot be shared evenly")
        scores = self.score(latents, probes)
        made = []
        for row in range(rows):
            index = len(self.candidates)
            latent = latents[row : row + 1].detach().cpu()
            if make is None:
                candidate = Candidate(index=index, score=float(scores[row]), nfes=per_row, recipe=recipes[row], latent=latent)
            else:
                candidate = make(index, float(scores[row]), per_row, recipes[row], latent)
            self.candidates.append(candidate)
            made.append(candidate)
        best = max((c.score for c in self.candidates if c.final), default=max(c.score for c in self.candidates))
        self.curve.append((self.spent, best))
        self.monitor.candidates_scored(len(self.candidates), self.total_candidates, best, self.spent)
        return made

    def result(self, algorithm: str, parameters: dict[str, Any]) -> SearchResult:
        final = [c for c in self.candidates if c.final]
        best = min(final, key=lambda c: (-c.score, c.index))
        return SearchResult(
            algorithm=algorithm,
            parameters=parameters,
            candidates=tuple(self.candidates),
            search_nfes=self.spent,
            curve=tuple(self.curve),
            best_latent=best.latent,
            best_recipe=best.recipe,
        )
