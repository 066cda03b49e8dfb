"""Book-keeping shared by the algorithms: scoring a batch, recording candidates, the scaling curve.

What a search holds does not grow with its candidates: every candidate keeps its record (index,
score, NFEs, recipe: a few hundred bytes), but only the ``HELD_CANDIDATES`` best finished candidates
keep their latent, and a set-relative ensemble is re-scored in O(n log n) per batch.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Sequence

import torch

from .errors import NonFiniteScore, SearchConfigError
from .protocols import Denoiser, Scorer, SearchMonitor
from .recipes import Recipe, replay
from .result import Candidate, SearchResult

HELD_CANDIDATES = 64
"""How many of the best finished candidates a search holds the latent of (the ``ranked_latents`` output)."""

NON_FINITE_FIX = (
    "a NaN or inf score cannot be ranked against the others. It usually means a model computed out of range "
    "in fp16 (start ComfyUI with --fp32-vae, or --force-fp32) or the verifier's weights are broken."
)


def checked_scores(scores: torch.Tensor, rows: int, columns: bool = False) -> torch.Tensor:
    """The scorer's output as a float tensor ``[rows]`` (or ``[rows, V]`` for an ensemble's columns)."""
    scores = torch.as_tensor(scores).detach().float().cpu()
    if scores.ndim != (2 if columns else 1) or scores.shape[0] != rows:
        raise RuntimeError(f"the verifier returned scores of shape {tuple(scores.shape)} for {rows} images")
    return scores


def first_non_finite(scores: torch.Tensor) -> tuple[int, int] | None:
    """(row, column) of the first NaN or inf in ``[B]`` or ``[B, V]`` scores, or None when all are finite."""
    bad = (~torch.isfinite(scores)).nonzero()
    if len(bad) == 0:
        return None
    row, *column = bad[0].tolist()
    return row, column[0] if column else 0


def non_finite_message(scores: torch.Tensor, verifier_names: Sequence[str], describe_row: Callable[[int], str]) -> str | None:
    """What a NaN or inf among ``scores`` is, naming the verifier (the ensemble's member) and the row; None if none.

    ``verifier_names`` holds one name per column of an ensemble's ``[B, V]`` scores, or the verifier's name.
    """
    found = first_non_finite(scores)
    if found is None:
        return None
    row, column = found
    value = float(scores[row, column] if scores.ndim == 2 else scores[row])
    if scores.ndim == 2:
        member = verifier_names[column] if column < len(verifier_names) else "a verifier"
        verifier = f"the verifier {member} (verifier {column + 1} of the ensemble)"
    else:
        verifier = f"the verifier {verifier_names[0]}" if verifier_names else "the verifier"
    return f"{verifier} gave {describe_row(row)} a score of {value}: {NON_FINITE_FIX}"


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class GrowingTensor:
    """Rows appended in amortised constant time per row: the storage doubles when it is full."""

    def __init__(self, dtype: torch.dtype, width: int | None = None) -> None:
        self._width = () if width is None else (width,)
        self._data = torch.empty((16, *self._width), dtype=dtype)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def values(self) -> torch.Tensor:
        return self._data[: self._count]

    def append(self, rows: torch.Tensor) -> None:
        end = self._count + rows.shape[0]
        if end > self._data.shape[0]:
            grown = torch.empty((max(end, 2 * self._data.shape[0]), *self._width), dtype=self._data.dtype)
            grown[: self._count] = self.values
            self._data = grown
        self._data[self._count : end] = rows
        self._count = end


class SearchLog:
    """Records candidates as batches are scored, holds the best ones' latents, and reports progress after each batch.

    Scores: ``scores`` is every candidate's current score. A set-relative scorer (one with ``combine``,
    an ensemble) returns one column per verifier, and every candidate is re-scored over the whole set
    after each batch; ``candidates`` keep the score they were recorded with, ``latest`` and ``result``
    give the current one.

    Non-finite scores: a NaN or inf from the scorer stops the search with :class:`NonFiniteScore`,
    naming the verifier (the ensemble's member) and the candidate's index and seed; it never ranks.

    Held latents: after each batch the finished candidates among those held and the new ones are
    ranked by their current score, and the best ``hold`` keep their latent (their own copy, on the
    CPU); the others lose it for good. When scores never move, that is exactly the best ``hold`` of
    all finished candidates. An ensemble's scores move as candidates arrive, so one dropped early
    can climb back: it stays in the result with its score but without a latent, and if it ends up
    the winner it is re-made from its recipe (its NFEs count in the search's). A scorer with a
    ``retain`` method is told the held indices after each batch, to drop what it keeps per candidate.
    """

    def __init__(
        self, denoiser: Denoiser, scorer: Scorer, monitor: SearchMonitor, total_candidates: int,
        hold: int = HELD_CANDIDATES,
    ) -> None:
        self.denoiser = denoiser
        self.scorer = scorer
        self.monitor = monitor
        self.total_candidates = total_candidates
        self.hold = hold
        self.start_nfes = denoiser.nfes
        self.start_verifier_seconds = self._scorer_verifier_seconds()
        self.candidates: list[Candidate] = []
        self.curve: list[tuple[int, float, float]] = []
        self.held: dict[int, torch.Tensor] = {}
        self.combine = getattr(scorer, "combine", None)
        self.verifier_names: Sequence[str] = getattr(scorer, "verifier_names", ())
        self._retain: Callable[[frozenset[int]], None] | None = getattr(scorer, "retain", None)
        self._scores = GrowingTensor(torch.float64)
        self._final = GrowingTensor(torch.bool)
        self._columns: GrowingTensor | None = None
        self._best_final = self._best_any = -math.inf

    @property
    def spent(self) -> int:
        return self.denoiser.nfes - self.start_nfes

    def _scorer_verifier_seconds(self) -> float:
        return float(getattr(self.scorer, "verifier_seconds", 0.0))

    @property
    def verifier_seconds(self) -> float:
        """Seconds this search has spent in the verifier (what the scorer reports; 0 if it does not time itself)."""
        return self._scorer_verifier_seconds() - self.start_verifier_seconds

    @property
    def scores(self) -> torch.Tensor:
        """Every recorded candidate's current score, by index."""
        return self._scores.values

    def _score(self, latents: torch.Tensor, probes: torch.Tensor | None, recipes: Sequence[Recipe]) -> torch.Tensor:
        """This batch's current scores; a set-relative scorer also re-scores everything recorded before."""
        first = len(self.candidates)
        raw = checked_scores(self.scorer.score(latents, probes), latents.shape[0], columns=self.combine is not None)
        problem = non_finite_message(raw, self.verifier_names,
                                     lambda row: f"candidate {first + row} (seed {recipes[row][0]['seed']})")
        if problem is not None:
            raise NonFiniteScore(problem)
        if self.combine is None:
            self._scores.append(raw)
            return raw
        if self._columns is None:
            self._columns = GrowingTensor(raw.dtype, raw.shape[1])
        self._columns.append(raw)
        combined = checked_scores(self.combine(self._columns.values), len(self._columns))
        self._scores.append(combined[first:])
        self._scores.values[:first] = combined[:first]
        return combined[first:]

    def latest(self, candidate: Candidate) -> Candidate:
        """The candidate as now scored (a set-relative score moves as candidates are added)."""
        current = self.candidates[candidate.index]
        score = float(self.scores[candidate.index])
        return current if current.score == score else replace(current, score=score)

    def record(
        self,
        latents: torch.Tensor,
        recipes: Sequence[Recipe],
        nfes_spent: int,
        make: Callable[[int, float, int, Recipe], Candidate] | None = None,
        probes: torch.Tensor | None = None,
    ) -> list[Candidate]:
        """Score a batch, record one candidate per row, hold the best latents, and report progress.

        ``nfes_spent`` (what the batch's sampling cost) is shared evenly between its rows; ``make``
        builds each candidate from (index, score, nfes, recipe) when defaults do not fit;
        ``probes`` are the rows' x0 predictions at the probe level, passed on to the scorer.
        """
        rows = latents.shape[0]
        per_row, remainder = divmod(nfes_spent, rows)
        if remainder:
            raise RuntimeError(f"the sampler evaluated {nfes_spent} rows for {rows} candidates; they cannot be shared evenly")
        first = len(self.candidates)
        scores = self._score(latents, probes, recipes).tolist()
        build = make or (lambda index, score, nfes, recipe: Candidate(index=index, score=score, nfes=nfes, recipe=recipe))
        made = [build(first + row, scores[row], per_row, recipes[row]) for row in range(rows)]
        self.candidates.extend(made)
        self._final.append(torch.tensor([c.final for c in made]))
        self._hold_best(latents, made)
        best = self._best_so_far(first)
        self.curve.append((self.spent, best, self.verifier_seconds))
        self.monitor.candidates_scored(len(self.candidates), self.total_candidates, best, self.spent)
        return made

    def _hold_best(self, latents: torch.Tensor, made: list[Candidate]) -> None:
        contenders = [i for i in self.held if self.candidates[i].final] + [c.index for c in made if c.final]
        current = self.scores[contenders].tolist() if contenders else []
        ranked = sorted(zip(current, contenders), key=lambda item: (-item[0], item[1]))
        kept = {index for _, index in ranked[: self.hold]}
        self.held = {index: latent for index, latent in self.held.items() if index in kept}
        first = made[0].index
        for candidate in made:
            if candidate.index in kept:
                row = candidate.index - first
                self.held[candidate.index] = latents[row : row + 1].detach().to("cpu", copy=True)
        if self._retain is not None:
            self._retain(frozenset(self.held))

    def _best_so_far(self, first: int) -> float:
        """The best current score: of the finished candidates once there are any, else of all."""
        if self.combine is not None:  # every score moved: look at them all
            first, self._best_final, self._best_any = 0, -math.inf, -math.inf
        scores, final = self.scores[first:], self._final.values[first:]
        self._best_any = max(self._best_any, float(scores.max()))
        if final.any():
            self._best_final = max(self._best_final, float(scores[final].max()))
        return self._best_final if self._best_final > -math.inf else self._best_any

    def result(self, algorithm: str, parameters: dict[str, Any]) -> SearchResult:
        scores = self.scores.tolist()
        candidates = [c if c.score == s else replace(c, score=s) for c, s in zip(self.candidates, scores)]
        best = min((c for c in candidates if c.final), key=lambda c: (-c.score, c.index))
        held = {index: latent for index, latent in self.held.items() if candidates[index].final}
        if best.index not in held:  # an ensemble's winner that was out of the top when it was dropped
            self.monitor.check_cancelled()
            held[best.index] = replay(best.recipe, self.denoiser).detach().to("cpu", copy=True)
            if len(held) > self.hold:
                del held[max(held, key=lambda index: (-candidates[index].score, index))]
        for index, latent in held.items():
            candidates[index] = replace(candidates[index], latent=latent)
        return SearchResult(
            algorithm=algorithm,
            parameters=parameters,
            candidates=tuple(candidates),
            search_nfes=self.spent,
            curve=tuple(self.curve),
            best_latent=held[best.index],
            best_recipe=best.recipe,
            verifier_seconds=self.verifier_seconds,
            score_columns=None if self._columns is None else self._columns.values.clone(),
        )


def score_render(scorer: Scorer, result: SearchResult, latent: torch.Tensor, probe: torch.Tensor | None) -> float:
    """The verifier's score of the winner's final render: one scorer call on one latent.

    An ensemble's score is relative to a set, so the render is scored in the winner's place among all
    the search's candidates: its combined score is on the scale of the search's scores.
    """
    combine = getattr(scorer, "combine", None)
    raw = checked_scores(scorer.score(latent, probe), 1, columns=combine is not None)
    problem = non_finite_message(raw, getattr(scorer, "verifier_names", ()),
                                 lambda row: f"the winner's final render (seed {result.best.seed})")
    if problem is not None:
        raise NonFiniteScore(problem)
    if combine is None:
        return float(raw[0])
    if result.score_columns is None:
        raise RuntimeError("an ensemble's search result holds no per-verifier scores to score its render against")
    columns = result.score_columns.clone()
    columns[result.best.index] = raw[0]
    return float(checked_scores(combine(columns), len(columns))[result.best.index])


def check_scores_previews(scorer: Scorer, why: str) -> None:
    """Refuse a scorer that cannot score x0 predictions mid-sampling (one that compares a final sample with its probe).

    ``why`` says what the algorithm scores mid-sampling, for the error."""
    if getattr(scorer, "scores_previews", True):
        return
    names = getattr(scorer, "verifier_names", ()) or ("this",)
    raise SearchConfigError(
        "verifier",
        f"the {' + '.join(names)} verifier scores only finished samples (it compares each with the model's x0 "
        f"prediction at its probe level), and {why}. Connect a verifier that scores single images (CLIP score, "
        "ImageReward, a class logit...), or use random or zero-order search with this one",
    )
