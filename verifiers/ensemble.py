"""Combining verifiers whose scores live on different scales, over a set of candidates.

The paper's ensemble ranks the candidates under each verifier and averages the ranks; weighted
z-scores are the alternative. Either way a candidate's combined score is relative to the set it is
compared with, never an average of raw scores on different scales. ``scores`` is ``[N, V]``: one row
per candidate, one column per verifier. A NaN or inf score is refused (ranked, it would beat every
real score), and so are weights that are not finite.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

RANK_AVERAGE = "rank average"
WEIGHTED_Z_SCORE = "weighted z-score"
METHODS = (RANK_AVERAGE, WEIGHTED_Z_SCORE)


def average_ranks(column: torch.Tensor) -> torch.Tensor:
    """0-based ranks from the lowest score, ties sharing their mean rank; one sort, O(n log n)."""
    ordered, order = torch.sort(column)
    _, run_of, run_lengths = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    run_ends = run_lengths.cumsum(0)  # a run of equal scores holds sorted places run_end - length .. run_end - 1
    run_ranks = (2 * run_ends - run_lengths - 1).to(column.dtype) / 2
    ranks = torch.empty_like(column)
    ranks[order] = run_ranks[run_of]
    return ranks


def checked_weights(weights: Sequence[float], columns: int) -> torch.Tensor:
    tensor = torch.tensor(list(weights), dtype=torch.float64)
    if (tensor.shape != (columns,) or not torch.isfinite(tensor).all() or (tensor < 0).any()
            or not 0 < tensor.sum() < math.inf):
        raise ValueError(f"need {columns} finite, non-negative weights that do not all vanish, got {list(weights)}")
    return tensor / tensor.sum()


def checked_finite(scores: torch.Tensor) -> torch.Tensor:
    """The scores, refused when one is NaN or inf: ranked, a NaN would sort above every real score."""
    bad = (~torch.isfinite(scores)).nonzero()
    if len(bad):
        candidate, verifier = bad[0].tolist()
        raise ValueError(
            f"verifier {verifier + 1} of the ensemble gave candidate {candidate} a score of "
            f"{float(scores[candidate, verifier])}; a NaN or inf cannot be ranked"
        )
    return scores.double()


def rank_average(scores: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """Weighted mean over verifiers of each candidate's rank among the set, scaled to 0 (worst) .. 1 (best)."""
    scores = checked_finite(scores)
    span = max(scores.shape[0] - 1, 1)
    ranks = torch.stack([average_ranks(scores[:, v]) for v in range(scores.shape[1])], dim=1) / span
    return (ranks @ checked_weights(weights, scores.shape[1])).float()


def weighted_z_score(scores: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """Weighted mean over verifiers of each candidate's z-score within the set (0 where a verifier cannot tell)."""
    scores = checked_finite(scores)
    spread = scores.std(dim=0, unbiased=False)
    z = torch.where(spread > 0, (scores - scores.mean(dim=0)) / spread.clamp_min(1e-300), torch.zeros_like(scores))
    return (z @ checked_weights(weights, scores.shape[1])).float()


def combiner(method: str, weights: Sequence[float]) -> Callable[[torch.Tensor], torch.Tensor]:
    if method == RANK_AVERAGE:
        return lambda scores: rank_average(scores, weights)
    if method == WEIGHTED_Z_SCORE:
        return lambda scores: weighted_z_score(scores, weights)
    raise ValueError(f"unknown ensemble method {method!r}; use one of {METHODS}")
