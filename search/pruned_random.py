"""Pruned random search: random search's candidates, with the weakest stopped early on their x0 previews."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import torch

from .budget import NFEBudget
from .errors import SearchConfigError
from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .random_search import check_batch_size, check_search_steps
from .recipes import Recipe, denoise_op, noise_op
from .result import Candidate, SearchResult
from .seeds import offset_seed
from .tracking import SearchLog, check_scores_previews, chunks

ROUNDING_SLACK = 1e-9
"""Products within this of an integer count as that integer (0.3 × 10 is 3.0000000000000004 in floats)."""


def parse_checkpoints(text: str) -> tuple[float, ...]:
    """``"0.25, 0.5"`` as ``(0.25, 0.5)``: numbers separated by commas, semicolons or spaces."""
    parts = [part for part in re.split(r"[\s,;]+", text.strip()) if part]
    try:
        return tuple(float(part) for part in parts)
    except ValueError:
        raise SearchConfigError(
            "checkpoints", f"is {text!r}; write fractions of the steps separated by commas, e.g. 0.25, 0.5"
        ) from None


def kept_count(alive: int, keep_fraction: float) -> int:
    """How many of ``alive`` candidates a checkpoint keeps: ``ceil(alive × keep_fraction)``, at least 1."""
    return max(1, math.ceil(alive * keep_fraction - ROUNDING_SLACK))


def checkpoint_step(fraction: float, steps: int) -> int:
    """The schedule index a checkpoint at ``fraction`` of ``steps`` falls on, rounding halves up (0.25 of 10 is 3)."""
    return math.floor(round(fraction * steps, 9) + 0.5)


@dataclass
class _Alive:
    """A candidate still sampling: its number, where it stands, how it got there, its latest record."""

    number: int
    seed: int
    recipe: Recipe
    state: torch.Tensor | None = None
    record: int | None = None
    probe: torch.Tensor | None = None


@dataclass(frozen=True)
class PrunedRandomSearch:
    """Random search that scores every candidate's x0 prediction at ``checkpoints`` and stops all but the best.

    Candidate ``i`` is random search's candidate ``i`` (noise and sampler seed ``base_seed + i``), so the
    two are a paired comparison. All candidates are sampled to the first checkpoint, ``batch_size`` at a
    time, and scored on their x0 prediction; the best ``ceil(keep_fraction × alive)`` (at least one)
    continue to the next checkpoint, and so on; the survivors of the last one are sampled to the end
    and scored on their final samples, and the best of those wins. The others stop where they were
    pruned, and the NFEs they would have spent are saved.

    ``checkpoints`` are fractions of the steps candidates are searched with (``search_steps``, or the
    sampler's steps), each falling on a step from 1 to the last but one, strictly increasing. The x0
    prediction scored at a checkpoint is the one the segment's last model evaluation made (one step
    before the checkpoint, as search over paths scores): free, no NFE is spent on scoring.

    The report has one record per candidate and checkpoint (``round`` 1, 2, ...: its score there, the
    NFEs of that segment, ``parent`` the candidate's previous record, ``kept`` whether it continued);
    a winner's recipe is its segments, which the replay nodes re-make exactly. An NFE budget lowers
    the number of candidates to what fits with the pruning.
    """

    num_candidates: int = 16
    checkpoints: tuple[float, ...] = (0.25, 0.5)
    keep_fraction: float = 0.5
    batch_size: int = 1
    search_steps: int = 0
    budget: NFEBudget = field(default_factory=NFEBudget)

    name = "pruned random search"

    def __post_init__(self) -> None:
        if self.num_candidates < 1:
            raise SearchConfigError("num_candidates", f"is {self.num_candidates}; search at least 1 candidate")
        if not (math.isfinite(self.keep_fraction) and 0.0 < self.keep_fraction <= 1.0):
            raise SearchConfigError(
                "keep_fraction", f"is {self.keep_fraction}; keep a fraction in (0, 1] of the candidates at each "
                "checkpoint (0.5 keeps the better half; 1 prunes nothing)",
            )
        if not self.checkpoints:
            raise SearchConfigError(
                "checkpoints", "is empty; give at least one fraction of the steps, e.g. 0.25, 0.5 "
                "(without checkpoints this is Random Search)",
            )
        for fraction in self.checkpoints:
            if not (math.isfinite(fraction) and 0.0 < fraction < 1.0):
                raise SearchConfigError(
                    "checkpoints", f"has {fraction:g}, outside the schedule; each checkpoint is a fraction of the "
                    "steps strictly between 0 and 1, e.g. 0.25, 0.5",
                )
        for earlier, later in zip(self.checkpoints, self.checkpoints[1:]):
            if later <= earlier:
                raise SearchConfigError(
                    "checkpoints", f"has {later:g} after {earlier:g}; list the checkpoints in increasing order, e.g. 0.25, 0.5"
                )
        check_batch_size(self.batch_size)
        check_search_steps(self.search_steps)

    def parameters(self) -> dict[str, object]:
        return {
            "num_candidates": self.num_candidates,
            "checkpoints": list(self.checkpoints),
            "keep_fraction": self.keep_fraction,
            "batch_size": self.batch_size,
            "search_steps": self.search_steps,
            "max_nfes": self.budget.max_nfes,
        }

    def checkpoint_steps(self, steps: int) -> list[int]:
        """The schedule index of every checkpoint on a schedule of ``steps`` steps."""
        indices = [checkpoint_step(fraction, steps) for fraction in self.checkpoints]
        for fraction, index in zip(self.checkpoints, indices):
            if not 1 <= index < steps:
                fix = (f"use fractions from {1 / steps:.3g} to {(steps - 1) / steps:.3g}, or more steps" if steps > 1
                       else "a 1-step schedule has no step to prune at; search with more steps")
                raise SearchConfigError(
                    "checkpoints", f"has {fraction:g}, which falls at step {index} of the {steps}-step schedule the "
                    f"candidates are searched with, outside steps 1 to {steps - 1} where pruning can happen; {fix}",
                )
        for (earlier, first), (later, second) in zip(zip(self.checkpoints, indices), zip(self.checkpoints[1:], indices[1:])):
            if second <= first:
                raise SearchConfigError(
                    "checkpoints", f"has {earlier:g} and {later:g}, which both fall at step {first} of the {steps}-step "
                    "schedule; space them further apart or search with more steps",
                )
        return indices

    def survivors(self, count: int, stages: int) -> list[int]:
        """How many candidates sample each of ``stages`` segments when ``count`` start."""
        alive = [count]
        while len(alive) < stages:
            alive.append(kept_count(alive[-1], self.keep_fraction))
        return alive

    def cost(self, count: int, segment_costs: list[int]) -> int:
        """The NFEs of a search starting ``count`` candidates, whose segments cost ``segment_costs`` per row."""
        return sum(alive * cost for alive, cost in zip(self.survivors(count, len(segment_costs)), segment_costs))

    def affordable(self, segment_costs: list[int]) -> int:
        """The most candidates (up to ``num_candidates``) whose pruned search fits the budget."""
        low, high = 1, self.num_candidates
        if self.budget.max_nfes == 0:
            return high
        while low < high:  # the cost never falls as candidates are added
            middle = (low + high + 1) // 2
            if self.cost(middle, segment_costs) <= self.budget.max_nfes:
                low = middle
            else:
                high = middle - 1
        return low

    def run(
        self, denoiser: Denoiser, scorer: Scorer, base_seed: int, monitor: SearchMonitor | None = None
    ) -> SearchResult:
        monitor = monitor or NullMonitor()
        check_scores_previews(scorer, "pruned random search scores every candidate's x0 prediction at its checkpoints")
        steps = denoiser.steps
        bounds = [0, *self.checkpoint_steps(steps), steps]
        segments = list(zip(bounds, bounds[1:]))
        segment_costs = [denoiser.dry_run_nfes(start, stop) for start, stop in segments]
        self.budget.require(self.cost(1, segment_costs), "one candidate")
        count = self.affordable(segment_costs)
        survivors = self.survivors(count, len(segments))
        monitor.planned(self.cost(count, segment_costs))
        log = SearchLog(denoiser, scorer, monitor, sum(survivors))

        alive = [_Alive(i, offset_seed(base_seed, i), [noise_op(offset_seed(base_seed, i))]) for i in range(count)]
        for stage, (start, stop) in enumerate(segments):
            keep = survivors[stage + 1] if stage + 1 < len(survivors) else len(alive)
            alive = self._advance(denoiser, alive, stage, start, stop, keep, log)
        parameters = {**self.parameters(), "checkpoint_steps": bounds[1:-1], "candidates_run": count,
                      "survivors": survivors, "base_seed": base_seed}
        return log.result(self.name, parameters)

    def _advance(
        self, denoiser: Denoiser, alive: list[_Alive], stage: int, start: int, stop: int, keep: int, log: SearchLog
    ) -> list[_Alive]:
        """Sample ``alive`` from ``start`` to ``stop``, score them, and return the best ``keep`` in candidate order.

        Scores that never move (no ensemble) let only the best ``keep`` states so far be held between
        batches; an ensemble's scores move as candidates arrive, so it holds every state until the end.
        """
        finished = stop == denoiser.steps
        scored: list[int] = []
        records: dict[int, _Alive] = {}
        for batch in chunks(alive, self.batch_size):
            log.monitor.check_cancelled()
            initial_noises = torch.cat([denoiser.initial_noise(a.seed) for a in batch], dim=0)
            states = initial_noises if start == 0 else torch.cat([a.state for a in batch], dim=0)
            before = denoiser.nfes
            denoised = denoiser.denoise(states, [a.seed for a in batch], start=start, stop=stop, initial_noises=initial_noises)
            recipes = [a.recipe + [denoise_op(stop, a.seed)] for a in batch]
            probes = [a.probe if denoised.probe is None else denoised.probe[row : row + 1] for row, a in enumerate(batch)]
            parents = [a.record for a in batch]
            first = len(log.candidates)
            made = log.record(
                denoised.states if finished else denoised.x0, recipes, denoiser.nfes - before,
                make=lambda i, s, n, r: Candidate(i, s, n, r, parent=parents[i - first], round=stage + 1, final=finished),
                probes=torch.cat(probes) if finished and all(p is not None for p in probes) else None,
            )
            for row, (a, candidate) in enumerate(zip(batch, made)):
                scored.append(candidate.index)
                state = denoised.states[row : row + 1].clone()  # its own storage: the batch's is let go
                records[candidate.index] = _Alive(a.number, a.seed, recipes[row], state, candidate.index, probes[row])
            if log.combine is None and not finished:
                records = {index: records[index] for index in self._best(list(records), keep, log)}
        if finished:
            return list(records.values())
        kept = set(self._best(list(records), keep, log))
        for index in scored:
            if index not in kept:
                log.candidates[index] = replace(log.candidates[index], kept=False)
        return sorted((records[index] for index in kept), key=lambda a: a.number)

    @staticmethod
    def _best(indices: list[int], keep: int, log: SearchLog) -> list[int]:
        """The ``keep`` best of these records by their current score; ties go to the earlier record."""
        return sorted(indices, key=lambda index: (-float(log.scores[index]), index))[:keep]
