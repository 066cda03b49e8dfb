"""Random search: best-of-N over independent initial noises (the paper's simplest algorithm)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .budget import NFEBudget
from .errors import SearchConfigError
from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .recipes import denoise_op, noise_op
from .result import SearchResult
from .seeds import offset_seed
from .tracking import SearchLog, chunks


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise SearchConfigError("batch_size", f"is {batch_size}; run at least 1 candidate per sampler call")


def check_search_steps(search_steps: int) -> None:
    if search_steps < 0:
        raise SearchConfigError("search_steps", f"is {search_steps}; use 0 to search at the full step count")


@dataclass(frozen=True)
class RandomSearch:
    """Sample ``num_candidates`` noises, ``batch_size`` at a time, and keep the best-scoring sample.

    Candidate ``i`` uses seed ``base_seed + i`` (wrapping at 2**64) for its noise and its sampler, so
    candidate 0 is exactly a plain sampler run with ``base_seed`` and any candidate can be re-made alone.
    ``search_steps`` > 0 scores candidates at that many steps and renders only the winner at full steps.
    """

    num_candidates: int
    batch_size: int = 1
    search_steps: int = 0
    budget: NFEBudget = field(default_factory=NFEBudget)

    name = "random search"

    def __post_init__(self) -> None:
        if self.num_candidates < 1:
            raise SearchConfigError(
                "num_candidates", f"is {self.num_candidates}; search at least 1 candidate (1 is a plain sampler run)"
            )
        check_batch_size(self.batch_size)
        check_search_steps(self.search_steps)

    def parameters(self) -> dict[str, int]:
        return {
            "num_candidates": self.num_candidates,
            "batch_size": self.batch_size,
            "search_steps": self.search_steps,
            "max_nfes": self.budget.max_nfes,
        }

    def run(
        self, denoiser: Denoiser, scorer: Scorer, base_seed: int, monitor: SearchMonitor | None = None
    ) -> SearchResult:
        monitor = monitor or NullMonitor()
        cost = denoiser.dry_run_nfes(0, denoiser.steps)
        self.budget.require(cost, "one candidate")
        count = self.budget.affordable(self.num_candidates, cost, 0)
        monitor.planned(count * cost)
        log = SearchLog(denoiser, scorer, monitor, count)
        for indices in chunks(range(count), self.batch_size):
            monitor.check_cancelled()
            seeds = [offset_seed(base_seed, i) for i in indices]
            noise = torch.cat([denoiser.initial_noise(seed) for seed in seeds], dim=0)
            before = denoiser.nfes
            denoised = denoiser.denoise(noise, seeds)
            recipes = [[noise_op(seed), denoise_op(denoiser.steps, seed)] for seed in seeds]
            log.record(denoised.states, recipes, denoiser.nfes - before, probes=denoised.probe)
        return log.result(self.name, {**self.parameters(), "base_seed": base_seed})
