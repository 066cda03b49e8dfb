"""Feynman-Kac steering (Singhal et al., 2025): sequential Monte Carlo over sampling paths.

``k`` particles are sampled together. At resampling steps each particle's x0 prediction is scored,
a potential turns the rewards into importance weights, and when the weights grow uneven (their
effective sample size falls below a threshold) the particles are resampled systematically: good ones
are duplicated, poor ones dropped. A stochastic transition then lets the duplicates part ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .budget import NFEBudget
from .errors import SearchConfigError
from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .random_search import check_batch_size
from .recipes import Recipe, denoise_op, initial_noise_of, noise_op, renoise_op
from .result import Candidate, SearchResult
from .seeds import derive_seed, offset_seed
from .tracking import SearchLog, check_scores_previews, chunks

PARTICLE_SAMPLER, PARTICLE_RENOISE, RESAMPLING = 6, 7, 8
"""Keys of the seeds FK steering derives (other algorithms use 1 to 5)."""

POTENTIALS = ("max", "difference", "sum")


@dataclass(frozen=True)
class Lineage:
    """What the potentials remember of each particle's past rewards along its ancestry: the last, the largest, the sum.

    Before the first reward the last is 0 (so ``difference`` starts as the reward itself) and the
    largest is -inf (so ``max`` starts as the reward itself, whatever the verifier's scale).
    """

    last: torch.Tensor
    largest: torch.Tensor
    total: torch.Tensor

    @classmethod
    def start(cls, particles: int) -> Lineage:
        zeros = torch.zeros(particles, dtype=torch.float64)
        return cls(zeros, torch.full((particles,), -math.inf, dtype=torch.float64), zeros)

    def then(self, rewards: torch.Tensor) -> Lineage:
        return Lineage(rewards, torch.maximum(self.largest, rewards), self.total + rewards)

    def take(self, ancestors: torch.Tensor) -> Lineage:
        return Lineage(self.last[ancestors], self.largest[ancestors], self.total[ancestors])


def log_potential(potential: str, lam: float, lineage: Lineage, rewards: torch.Tensor) -> torch.Tensor:
    """log G for each particle given its new ``rewards`` and its ``lineage`` before them.

    ``max``: λ·(largest reward so far); ``sum``: λ·(sum of rewards so far); ``difference``: λ·(reward −
    previous reward). These are the paper's potentials; the weights are their product since the
    last resampling.
    """
    if potential == "max":
        return lam * torch.maximum(lineage.largest, rewards)
    if potential == "sum":
        return lam * (lineage.total + rewards)
    if potential == "difference":
        return lam * (rewards - lineage.last)
    raise SearchConfigError("potential", f"is {potential!r}; use one of {', '.join(POTENTIALS)}")


def normalised_weights(log_weights: torch.Tensor) -> torch.Tensor:
    return torch.softmax(log_weights.double(), dim=0)


def effective_sample_size(log_weights: torch.Tensor) -> float:
    """1 / Σ w² of the normalised weights: k when they are equal, 1 when one particle holds them all."""
    return float(1.0 / normalised_weights(log_weights).square().sum())


def systematic_resample(weights: torch.Tensor, offset: float) -> torch.Tensor:
    """The ancestor of each of ``k`` new particles: one stratified draw at ``(offset + i) / k``, ``offset`` in [0, 1).

    A particle of weight w gets floor(k·w) or ceil(k·w) copies; ancestors come out in ascending order.
    """
    k = weights.shape[0]
    cumulative = torch.cumsum(weights.double() / weights.double().sum(), dim=0)
    cumulative[-1] = 1.0
    positions = (offset + torch.arange(k, dtype=torch.float64)) / k
    return torch.searchsorted(cumulative, positions, right=True).clamp(max=k - 1)


def uniform_from_seed(seed: int) -> float:
    return float(torch.rand((), generator=torch.Generator().manual_seed(seed), dtype=torch.float64))


@dataclass(frozen=True)
class Segment:
    """One sampler call per particle batch: from schedule index ``origin`` (re-noised back to ``start``) to ``stop``."""

    origin: int
    start: int
    stop: int


@dataclass(frozen=True)
class FKSteering:
    """FK steering over ``num_particles`` particles, resampled at ``start_step``, ``start_step + interval``, ...

    Particle ``p`` starts from seed ``base_seed + p`` (noise and sampler, as random search's candidate
    ``p``). At each resampling step every particle's x0 prediction (of the segment's last model
    evaluation, as search over paths scores it: no extra NFEs) is scored; ``potential`` with
    temperature ``lam`` updates the log-weights; when the effective sample size falls below
    ``ess_threshold``·k the particles are resampled systematically and the weights reset. The finished
    particles are scored on their samples and the best one wins (there is no final resampling).

    Transitions: with a stochastic denoiser (``denoiser.stochastic``: ancestral and SDE samplers)
    each particle continues with the sampler's own noise, from a fresh sampler seed per particle and
    segment. With an ODE sampler (any model, flow models included) copies of one particle would stay
    identical, so each segment after the first starts by re-noising the particle ``renoise_steps``
    steps back with fresh noise (the model's own forward noising, as search over paths does); those
    steps are sampled again and cost their NFEs. An NFE budget lowers the particle count to what fits.
    """

    num_particles: int = 4
    potential: str = "max"
    lam: float = 10.0
    start_step: int = 4
    interval: int = 4
    ess_threshold: float = 0.5
    renoise_steps: int = 1
    batch_size: int = 4
    budget: NFEBudget = field(default_factory=NFEBudget)

    name = "FK steering"
    search_steps = 0

    def __post_init__(self) -> None:
        if self.num_particles < 2:
            raise SearchConfigError(
                "num_particles", f"is {self.num_particles}; FK steering resamples among particles, so run at least 2"
            )
        if self.potential not in POTENTIALS:
            raise SearchConfigError("potential", f"is {self.potential!r}; use one of {', '.join(POTENTIALS)}")
        if not (math.isfinite(self.lam) and self.lam > 0):
            raise SearchConfigError("lambda", f"is {self.lam}; the temperature must be a positive number (e.g. 10)")
        for parameter, value in (("start_step", self.start_step), ("interval", self.interval),
                                 ("renoise_steps", self.renoise_steps)):
            if value < 1:
                raise SearchConfigError(parameter, f"is {value}; it must be at least 1")
        if not 0 < self.ess_threshold <= 1:
            raise SearchConfigError(
                "ess_threshold", f"is {self.ess_threshold}; it is a fraction of the particles in (0, 1] (e.g. 0.5)"
            )
        check_batch_size(self.batch_size)

    def parameters(self) -> dict[str, Any]:
        return {
            "num_particles": self.num_particles,
            "potential": self.potential,
            "lambda": self.lam,
            "start_step": self.start_step,
            "interval": self.interval,
            "ess_threshold": self.ess_threshold,
            "renoise_steps": self.renoise_steps,
            "batch_size": self.batch_size,
            "max_nfes": self.budget.max_nfes,
        }

    def resampling_steps(self, steps: int) -> list[int]:
        return list(range(self.start_step, steps, self.interval))

    def segments(self, steps: int, renoise: bool) -> list[Segment]:
        """The first segment from pure noise, then one from each resampling step (re-noised back on ODE samplers)."""
        stops = self.resampling_steps(steps) + [steps]
        back = self.renoise_steps if renoise else 0
        return [Segment(0, 0, stops[0])] + [Segment(a, a - back, b) for a, b in zip(stops, stops[1:])]

    def check_schedule(self, steps: int, renoise: bool) -> None:
        lowest = self.renoise_steps + 1 if renoise else 1
        if lowest <= self.start_step < steps:
            return
        why = (f"with an ODE sampler each particle is re-noised renoise_steps ({self.renoise_steps}) back after it and "
               "must stay after the first step, " if renoise else "")
        fix = f"use {lowest} to {steps - 1}" if lowest < steps else f"the sampler needs at least {lowest + 1} steps"
        raise SearchConfigError(
            "start_step", f"is {self.start_step}, outside the schedule of {steps} steps: the first resampling step "
            f"comes after the first step and before the last; {why}so {fix}",
        )

    def run(
        self, denoiser: Denoiser, scorer: Scorer, base_seed: int, monitor: SearchMonitor | None = None
    ) -> SearchResult:
        monitor = monitor or NullMonitor()
        check_scores_previews(scorer, "FK steering scores every particle's x0 prediction mid-sampling")
        stochastic = bool(getattr(denoiser, "stochastic", False))
        self.check_schedule(denoiser.steps, renoise=not stochastic)
        segments = self.segments(denoiser.steps, renoise=not stochastic)
        cost = sum(denoiser.dry_run_nfes(s.start, s.stop) for s in segments)
        self.budget.require(2 * cost, "the smallest run (2 particles)")
        particles = self.budget.affordable(self.num_particles, cost, 0)
        monitor.planned(particles * cost)
        log = SearchLog(denoiser, scorer, monitor, particles * len(segments))
        swarm = Swarm.start(particles)
        trace: list[dict[str, Any]] = []
        for round_, segment in enumerate(segments, start=1):
            made = self._advance(denoiser, base_seed, swarm, segment, round_, log)
            if segment.stop == denoiser.steps:
                break
            rewards = log.scores[made[0].index : made[-1].index + 1].double()
            log_weights = swarm.log_weights + log_potential(self.potential, self.lam, swarm.lineage, rewards)
            ess = effective_sample_size(log_weights)
            resampled = ess < self.ess_threshold * particles
            if resampled:
                offset = uniform_from_seed(derive_seed(base_seed, RESAMPLING, round_))
                ancestors = systematic_resample(normalised_weights(log_weights), offset)
                log_weights = torch.zeros_like(log_weights)
            else:
                ancestors = torch.arange(particles)
            swarm.follow(ancestors, made, swarm.lineage.then(rewards), log_weights)
            for candidate in made:
                if candidate.index not in swarm.candidates:
                    log.candidates[candidate.index] = replace(candidate, kept=False)
            trace.append({"round": round_, "step": segment.stop, "ess": ess, "resampled": resampled,
                          "ancestors": ancestors.tolist()})
        transition = "sampler noise" if stochastic else f"re-noise {self.renoise_steps} steps back"
        result = log.result(self.name, {**self.parameters(), "particles_run": particles, "transition": transition,
                                        "base_seed": base_seed})
        return replace(result, resampling=tuple(trace))

    def _advance(
        self, denoiser: Denoiser, base_seed: int, swarm: Swarm, segment: Segment, round_: int, log: SearchLog
    ) -> list[Candidate]:
        """Sample every particle over ``segment``, a batch per sampler call, and score it (x0, or the sample at the end)."""
        finished = segment.stop == denoiser.steps
        made: list[Candidate] = []
        states: list[torch.Tensor] = []
        for batch in chunks(range(swarm.size), self.batch_size):
            log.monitor.check_cancelled()
            if segment.origin == 0:
                sampler_seeds = [offset_seed(base_seed, p) for p in batch]
                x = initial_noises = torch.cat([denoiser.initial_noise(seed) for seed in sampler_seeds], dim=0)
                prefixes = [[noise_op(seed)] for seed in sampler_seeds]
            else:
                sampler_seeds = [derive_seed(base_seed, PARTICLE_SAMPLER, round_, p) for p in batch]
                x = torch.cat([swarm.states[p] for p in batch], dim=0)
                prefixes = [list(swarm.recipes[p]) for p in batch]
                initial_noises = torch.cat([initial_noise_of(recipe, denoiser) for recipe in prefixes], dim=0)
                if segment.start < segment.origin:
                    noise_seeds = [derive_seed(base_seed, PARTICLE_RENOISE, round_, p) for p in batch]
                    noise = torch.cat([denoiser.initial_noise(seed) for seed in noise_seeds], dim=0)
                    x = denoiser.renoise(x, segment.origin, segment.start, noise, initial_noises)
                    prefixes = [recipe + [renoise_op(segment.start, seed)] for recipe, seed in zip(prefixes, noise_seeds)]
            recipes = [recipe + [denoise_op(segment.stop, seed)] for recipe, seed in zip(prefixes, sampler_seeds)]
            before = denoiser.nfes
            denoised = denoiser.denoise(x, sampler_seeds, start=segment.start, stop=segment.stop,
                                        initial_noises=initial_noises)
            parents = [swarm.candidates[p] for p in batch]
            first = len(log.candidates)
            made += log.record(
                denoised.states if finished else denoised.x0, recipes, denoiser.nfes - before,
                make=lambda i, s, n, r: Candidate(i, s, n, r, parent=parents[i - first], round=round_, final=finished),
                probes=denoised.probe if finished else None,
            )
            states += [denoised.states[row : row + 1] for row in range(len(batch))]
        swarm.states, swarm.recipes = states, [c.recipe for c in made]
        return made


@dataclass
class Swarm:
    """The particles between segments: states, recipes, last scored candidates, log-weights and lineages."""

    states: list[torch.Tensor]
    recipes: list[Recipe]
    candidates: list[int | None]
    log_weights: torch.Tensor
    lineage: Lineage

    @classmethod
    def start(cls, particles: int) -> Swarm:
        return cls([], [], [None] * particles, torch.zeros(particles, dtype=torch.float64), Lineage.start(particles))

    @property
    def size(self) -> int:
        return len(self.candidates)

    def follow(self, ancestors: torch.Tensor, made: list[Candidate], lineage: Lineage, log_weights: torch.Tensor) -> None:
        """Particle ``i`` becomes a copy of particle ``ancestors[i]`` as it was just scored."""
        picks = ancestors.tolist()
        self.states = [self.states[a] for a in picks]
        self.recipes = [self.recipes[a] for a in picks]
        self.candidates = [made[a].index for a in picks]
        self.lineage = lineage.take(ancestors)
        self.log_weights = log_weights
