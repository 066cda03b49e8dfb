"""Search over paths: branch noisy intermediate states, keep the branches the verifier prefers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from .budget import NFEBudget
from .errors import SearchConfigError
from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .random_search import check_batch_size
from .recipes import Recipe, denoise_op, initial_noise_of, noise_op, renoise_op
from .result import Candidate, SearchResult
from .seeds import derive_seed, offset_seed
from .tracking import SearchLog, check_scores_previews, chunks

RENOISE, BRANCH_SAMPLER = 4, 5


@dataclass(frozen=True)
class Path:
    """A kept path: its state at a schedule index, how it was made, and the candidate that scored it."""

    state: torch.Tensor
    recipe: Recipe
    candidate: int | None


@dataclass(frozen=True)
class PathsSearch:
    """The paper's search over paths.

    ``num_paths`` noises (seeds ``base_seed + p``) are sampled to step ``start_step``. Each round, every
    path is re-noised back ``forward_steps`` steps with ``branches`` fresh noises, each branch is sampled
    ``backward_steps`` steps forward (so a round advances ``backward_steps - forward_steps`` steps), the
    branches are scored on their x0 predictions and the top ``num_paths`` are kept. At the end of the
    schedule the best finished sample wins. An NFE budget lowers the branches per path to what fits
    (the rounds are fixed by the schedule).

    Which x0 prediction is scored: the one the segment's last model evaluation made, i.e. at the start
    of the segment's last step, at the noise level one step above the branch's stopping point (for
    Euler, the prediction that step moved along). It is one step stale but free: no NFE is spent on
    scoring. The paper scores each branch where it stops, at its stopping noise level; that costs one
    more model evaluation per branch and round, which this implementation does not spend. A round's
    last branches (ending at the schedule's end) are scored on the finished samples themselves.
    """

    num_paths: int = 2
    branches: int = 2
    start_step: int = 4
    forward_steps: int = 2
    backward_steps: int = 4
    batch_size: int = 1
    budget: NFEBudget = field(default_factory=NFEBudget)

    name = "search over paths"
    search_steps = 0

    def __post_init__(self) -> None:
        for parameter, value in (("num_paths", self.num_paths), ("branches", self.branches),
                                 ("forward_steps", self.forward_steps)):
            if value < 1:
                raise SearchConfigError(parameter, f"is {value}; it must be at least 1")
        if self.backward_steps <= self.forward_steps:
            raise SearchConfigError(
                "backward_steps",
                f"is {self.backward_steps} but forward_steps is {self.forward_steps}; each round re-noises "
                "forward_steps back and samples backward_steps on, so backward_steps must be larger",
            )
        if self.start_step <= self.forward_steps:
            raise SearchConfigError(
                "start_step",
                f"is {self.start_step} but forward_steps is {self.forward_steps}; the first re-noising goes back "
                "forward_steps steps and must stay after the schedule's first step, so start_step must be larger",
            )
        check_batch_size(self.batch_size)

    def parameters(self) -> dict[str, int]:
        return {
            "num_paths": self.num_paths,
            "branches": self.branches,
            "start_step": self.start_step,
            "forward_steps": self.forward_steps,
            "backward_steps": self.backward_steps,
            "batch_size": self.batch_size,
            "max_nfes": self.budget.max_nfes,
        }

    def rounds(self, steps: int) -> list[tuple[int, int, int]]:
        """(from, re-noise to, stop) schedule indices of every round."""
        rounds, index = [], self.start_step
        while index < steps:
            to = index - self.forward_steps
            stop = min(to + self.backward_steps, steps)
            rounds.append((index, to, stop))
            index = stop
        return rounds

    def run(
        self, denoiser: Denoiser, scorer: Scorer, base_seed: int, monitor: SearchMonitor | None = None
    ) -> SearchResult:
        monitor = monitor or NullMonitor()
        check_scores_previews(scorer, "search over paths scores every branch's x0 prediction mid-sampling")
        steps = denoiser.steps
        if self.start_step >= steps:
            lowest = self.forward_steps + 1
            fix = (f"use {lowest} to {steps - 1}" if lowest < steps else
                   f"with forward_steps {self.forward_steps} the sampler needs at least {lowest + 1} steps")
            raise SearchConfigError("start_step", f"is {self.start_step}, outside the schedule of {steps} steps; {fix}")
        rounds = self.rounds(steps)
        start_cost = self.num_paths * denoiser.dry_run_nfes(0, self.start_step)
        branch_cost = self.num_paths * sum(denoiser.dry_run_nfes(to, stop) for _, to, stop in rounds)
        self.budget.require(start_cost + branch_cost, f"{self.num_paths} paths with 1 branch each")
        branches = self.budget.affordable(self.branches, branch_cost, start_cost)
        monitor.planned(start_cost + branches * branch_cost)
        log = SearchLog(denoiser, scorer, monitor, self.num_paths * branches * len(rounds))

        paths = self._start(denoiser, base_seed, monitor)
        for round_, (index, to, stop) in enumerate(rounds, start=1):
            made = self._branch(denoiser, base_seed, paths, branches, round_, index, to, stop, log)
            paths = self._keep_best(made, log)
        return log.result(self.name, {**self.parameters(), "branches_run": branches, "base_seed": base_seed})

    def _start(self, denoiser: Denoiser, base_seed: int, monitor: SearchMonitor) -> list[Path]:
        paths: list[Path] = []
        for batch in chunks(range(self.num_paths), self.batch_size):
            monitor.check_cancelled()
            seeds = [offset_seed(base_seed, p) for p in batch]
            noise = torch.cat([denoiser.initial_noise(seed) for seed in seeds], dim=0)
            states = denoiser.denoise(noise, seeds, start=0, stop=self.start_step).states
            for row, seed in enumerate(seeds):
                paths.append(Path(states[row : row + 1], [noise_op(seed), denoise_op(self.start_step, seed)], None))
        return paths

    def _branch(
        self, denoiser: Denoiser, base_seed: int, paths: list[Path], branches: int, round_: int, index: int,
        to: int, stop: int, log: SearchLog,
    ) -> list[tuple[Candidate, torch.Tensor]]:
        keys = [(p, b) for p in range(len(paths)) for b in range(branches)]
        finished = stop == denoiser.steps
        made_branches: list[tuple[Candidate, torch.Tensor]] = []
        for batch in chunks(keys, self.batch_size):
            log.monitor.check_cancelled()
            renoise_seeds = [derive_seed(base_seed, RENOISE, round_, p, b) for p, b in batch]
            sampler_seeds = [derive_seed(base_seed, BRANCH_SAMPLER, round_, p, b) for p, b in batch]
            initial_noises = torch.cat([initial_noise_of(paths[p].recipe, denoiser) for p, _ in batch], dim=0)
            states = torch.cat([
                denoiser.renoise(paths[p].state, index, to, denoiser.initial_noise(seed), initial_noises[row : row + 1])
                for row, ((p, _), seed) in enumerate(zip(batch, renoise_seeds))
            ], dim=0)
            before = denoiser.nfes
            denoised = denoiser.denoise(states, sampler_seeds, start=to, stop=stop, initial_noises=initial_noises)
            recipes = [paths[p].recipe + [renoise_op(to, r), denoise_op(stop, q)]
                       for (p, _), r, q in zip(batch, renoise_seeds, sampler_seeds)]
            parents = [paths[p].candidate for p, _ in batch]
            first = len(log.candidates)
            made = log.record(
                denoised.states if finished else denoised.x0, recipes, denoiser.nfes - before,
                make=lambda i, s, n, r: Candidate(i, s, n, r, parent=parents[i - first], round=round_, final=finished),
                probes=denoised.probe if finished else None,
            )
            made_branches += [(candidate, denoised.states[row : row + 1]) for row, candidate in enumerate(made)]
        return made_branches

    def _keep_best(self, branches: list[tuple[Candidate, torch.Tensor]], log: SearchLog) -> list[Path]:
        current = [(log.latest(candidate), state) for candidate, state in branches]
        ranked = sorted(current, key=lambda item: (-item[0].score, item[0].index))
        kept, dropped = ranked[: self.num_paths], ranked[self.num_paths :]
        for candidate, _ in dropped:
            log.candidates[candidate.index] = replace(candidate, kept=False, final=False)
        return [Path(state, candidate.recipe, candidate.index) for candidate, state in kept]
