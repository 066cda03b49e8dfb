"""Zero-order search: improve a pivot noise by trying neighbours on the noise sphere around it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .budget import NFEBudget
from .errors import SearchConfigError
from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .random_search import check_batch_size, check_search_steps
from .recipes import Recipe, denoise_op, initial_noise_of, neighbour_op, noise_op
from .result import Candidate, SearchResult
from .seeds import derive_seed
from .tracking import SearchLog, chunks

NEIGHBOUR_DIRECTION, FRESH_PIVOT = 1, 3
"""Tags of the seed streams derived from ``base_seed``."""


@dataclass(frozen=True)
class ZeroOrderSearch:
    """The paper's zero-order search, with accept-if-better and a fresh pivot on a rejected round.

    Round 0 samples and scores the pivot (seed ``base_seed``, i.e. what a plain sampler gives). Each of
    ``iterations`` rounds samples ``num_neighbours`` neighbours at ``angle`` radians from the pivot on
    the noise sphere; the best becomes the pivot if it beats the pivot's (cached, never re-sampled)
    score. A round where no neighbour improves is rejected and a fresh random pivot is drawn for the
    next round, so the search cannot sit at a fixed point. Every draw comes from a seed derived from
    ``base_seed``, so runs are reproducible; the result is the best candidate ever scored, never worse
    than the first pivot. Neighbours keep their pivot's sampler seed, so with an ancestral or SDE sampler
    only the initial noise moves and the search stays local.

    Where the rejection rule comes from: not from the paper (arXiv 2501.09732), whose zero-order search
    continues each iteration from the best of the pivot's N neighbours (its Fig. 2). Accept-if-better
    with a fresh random pivot after a rejected round is what the public re-implementation
    ``sayakpaul/tt-scale-flux`` does: zero-order search came in its PR #14 (February 2025), which its
    README thanks the paper's first author, Willis Ma, for reviewing (its neighbour sampler is credited
    to him in the code), and the README documents the rule: a round whose neighbours do not improve is
    rejected and the next starts from a new base noise. That code re-samples and re-scores the pivot
    with its neighbours every round; here the pivot's score is cached.
    """

    num_neighbours: int = 4
    iterations: int = 4
    angle: float = 0.3
    batch_size: int = 1
    search_steps: int = 0
    budget: NFEBudget = field(default_factory=NFEBudget)

    name = "zero-order search"

    def __post_init__(self) -> None:
        if self.num_neighbours < 1:
            raise SearchConfigError("num_neighbours", f"is {self.num_neighbours}; try at least 1 neighbour per round")
        if self.iterations < 1:
            raise SearchConfigError("iterations", f"is {self.iterations}; run at least 1 round")
        if not 0 < self.angle <= math.pi:
            raise SearchConfigError(
                "lambda", f"is {self.angle}; the neighbourhood angle must be in (0, pi] radians (e.g. 0.3)"
            )
        check_batch_size(self.batch_size)
        check_search_steps(self.search_steps)

    def parameters(self) -> dict[str, float | int]:
        return {
            "num_neighbours": self.num_neighbours,
            "iterations": self.iterations,
            "lambda": self.angle,
            "batch_size": self.batch_size,
            "search_steps": self.search_steps,
            "max_nfes": self.budget.max_nfes,
        }

    def run(
        self, denoiser: Denoiser, scorer: Scorer, base_seed: int, monitor: SearchMonitor | None = None
    ) -> SearchResult:
        monitor = monitor or NullMonitor()
        cost = denoiser.dry_run_nfes(0, denoiser.steps)
        self.budget.require(cost, "scoring the first pivot")
        log = SearchLog(denoiser, scorer, monitor, 1 + self.iterations * self.num_neighbours)

        def plan() -> None:
            planned = log.total_candidates * cost
            monitor.planned(min(planned, self.budget.max_nfes) if self.budget.max_nfes else planned)

        plan()

        def evaluate(recipes: list[Recipe], sampler_seeds: list[int], parent: int | None, round_: int) -> list[Candidate]:
            monitor.check_cancelled()
            noise = torch.cat([initial_noise_of(recipe, denoiser) for recipe in recipes], dim=0)
            before = denoiser.nfes
            denoised = denoiser.denoise(noise, sampler_seeds)
            full = [recipe + [denoise_op(denoiser.steps, seed)] for recipe, seed in zip(recipes, sampler_seeds)]
            return log.record(
                denoised.states, full, denoiser.nfes - before,
                make=lambda i, s, n, r: Candidate(i, s, n, r, parent=parent, round=round_),
                probes=denoised.probe,
            )

        pivot_noise: Recipe = [noise_op(base_seed)]
        pivot_sampler_seed = base_seed
        (pivot,) = evaluate([pivot_noise], [pivot_sampler_seed], None, 0)
        for round_ in range(1, self.iterations + 1):
            affordable = self.budget.affordable(self.num_neighbours, cost, log.spent)
            if affordable == 0:
                break
            keys = [(round_, j) for j in range(affordable)]
            neighbours: list[Candidate] = []
            for batch in chunks(keys, self.batch_size):
                recipes = [pivot_noise + [neighbour_op(derive_seed(base_seed, NEIGHBOUR_DIRECTION, *key), self.angle)]
                           for key in batch]
                neighbours += evaluate(recipes, [pivot_sampler_seed] * len(batch), pivot.index, round_)
            pivot = log.latest(pivot)
            challenger = min((log.latest(c) for c in neighbours), key=lambda c: (-c.score, c.index))
            if challenger.score > pivot.score:
                pivot, pivot_noise = challenger, challenger.recipe[:-1]
            elif round_ < self.iterations and self.budget.affordable(1, cost, log.spent):
                fresh_seed = derive_seed(base_seed, FRESH_PIVOT, round_)
                log.total_candidates += 1
                plan()
                pivot_noise, pivot_sampler_seed = [noise_op(fresh_seed)], fresh_seed
                (pivot,) = evaluate([pivot_noise], [pivot_sampler_seed], None, round_)
            else:
                break
        return log.result(self.name, {**self.parameters(), "base_seed": base_seed})
