"""Random search: best-of-N over independent initial noises (the paper's simplest algorithm)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import SearchConfigError
from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .result import Candidate, SearchResult

MAX_SEED = 0xFFFFFFFFFFFFFFFF


def checked_scores(scores: torch.Tensor, rows: int) -> torch.Tensor:
    """The scorer's output as a flat float tensor, refusing a wrong shape or a non-finite score."""
    scores = torch.as_tensor(scores).detach().float().cpu()
    if scores.shape != (rows,):
        raise RuntimeError(f"the verifier returned scores of shape {tuple(scores.shape)} for {rows} images")
    if not torch.isfinite(scores).all():
        raise RuntimeError(f"the verifier returned a non-finite score: {scores.tolist()}")
    return scores


@dataclass(frozen=True)
class RandomSearch:
    """Sample ``num_candidates`` noises, ``batch_size`` at a time, and keep the best-scoring sample.

    Candidate ``i`` uses seed ``base_seed + i`` (wrapping at 2**64), so candidate 0 is exactly what
    a plain sampler run with ``base_seed`` gives, and every candidate can be re-made alone.
    """

    num_candidates: int
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.num_candidates < 1:
            raise SearchConfigError(
                "num_candidates", f"is {self.num_candidates}; search at least 1 candidate (1 is a plain sampler run)"
            )
        if self.batch_size < 1:
            raise SearchConfigError(
                "batch_size", f"is {self.batch_size}; run at least 1 candidate per sampler call"
            )

    @staticmethod
    def seed_of(base_seed: int, index: int) -> int:
        return (base_seed + index) & MAX_SEED

    def run(
        self,
        denoiser: Denoiser,
        scorer: Scorer,
        base_seed: int,
        monitor: SearchMonitor | None = None,
    ) -> SearchResult:
        monitor = monitor or NullMonitor()
        nfes_at_start = denoiser.nfes
        candidates: list[Candidate] = []
        for start in range(0, self.num_candidates, self.batch_size):
            monitor.check_cancelled()
            indices = range(start, min(start + self.batch_size, self.num_candidates))
            seeds = [self.seed_of(base_seed, i) for i in indices]
            noise = torch.cat([denoiser.initial_noise(seed) for seed in seeds], dim=0)
            nfes_before = denoiser.nfes
            latents = denoiser.denoise(noise, seeds)
            nfes_per_candidate, remainder = divmod(denoiser.nfes - nfes_before, len(seeds))
            if remainder:
                raise RuntimeError(
                    f"the sampler evaluated {denoiser.nfes - nfes_before} rows for {len(seeds)} candidates; "
                    "the cost cannot be split evenly between them"
                )
            scores = checked_scores(scorer.score(latents), len(seeds))
            for row, (index, seed) in enumerate(zip(indices, seeds)):
                candidates.append(
                    Candidate(
                        index=index,
                        seed=seed,
                        score=float(scores[row]),
                        nfes=nfes_per_candidate,
                        latent=latents[row : row + 1].detach().cpu(),
                    )
                )
            monitor.candidates_scored(
                len(candidates), self.num_candidates, max(c.score for c in candidates), denoiser.nfes - nfes_at_start
            )
        return SearchResult(
            algorithm="random search",
            parameters={"num_candidates": self.num_candidates, "batch_size": self.batch_size, "base_seed": base_seed},
            candidates=tuple(candidates),
            nfes=denoiser.nfes - nfes_at_start,
        )
