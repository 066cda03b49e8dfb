"""What a rank ensemble costs over a long search: ``python -m bench.ensemble_ranking``.

An ensemble's scores are relative to the whole candidate set, so a search re-ranks every candidate
after each batch (``search.tracking.SearchLog``). This times that re-ranking alone, as a search of
N candidates in batches of B makes it, for :func:`verifiers.ensemble.rank_average` and for the
tie-averaging loop it replaced (one pass over the candidates per distinct score, O(n²) per ranking),
which is kept here only as the reference point. Writes ``bench/results/ensemble_ranking.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Callable

import torch

from verifiers.ensemble import checked_weights, rank_average

RESULTS = Path(__file__).resolve().parent / "results"
VERIFIERS = 3


def rank_average_with_tie_loop(scores: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """The ranking before the fix: a stable argsort, then a pass over the whole column for each distinct score."""
    scores = scores.double()
    columns = []
    for v in range(scores.shape[1]):
        column = scores[:, v]
        ranks = torch.empty_like(column)
        ranks[torch.argsort(column, stable=True)] = torch.arange(len(column), dtype=column.dtype)
        for value in torch.unique(column):
            tied = column == value
            ranks[tied] = ranks[tied].mean()
        columns.append(ranks)
    ranks = torch.stack(columns, dim=1) / max(scores.shape[0] - 1, 1)
    return (ranks @ checked_weights(weights, scores.shape[1])).float()


def search_seconds(rank: Callable[[torch.Tensor, list[float]], torch.Tensor], candidates: int, batch: int,
                   time_limit: float) -> tuple[float, int]:
    """Seconds spent re-ranking after each batch of a search of ``candidates``; stops past ``time_limit``.

    Returns (seconds, candidates reached): when the limit cuts a run short, the candidates it reached.
    """
    scores = torch.randn(candidates, VERIFIERS, generator=torch.Generator().manual_seed(0))
    weights = [1.0] * VERIFIERS
    spent = 0.0
    for end in range(batch, candidates + 1, batch):
        started = time.perf_counter()
        rank(scores[:end], weights)
        spent += time.perf_counter() - started
        if spent > time_limit:
            return spent, end
    return spent, candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds after which a run stops")
    parser.add_argument("--output", type=Path, default=RESULTS / "ensemble_ranking.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for candidates in args.candidates:
        for batch in args.batches:
            for name, rank in (("rank_average", rank_average), ("tie_loop_before", rank_average_with_tie_loop)):
                seconds, reached = search_seconds(rank, candidates, batch, args.time_limit)
                rows.append({"ranking": name, "candidates": candidates, "batch": batch,
                             "seconds": round(seconds, 3), "candidates_reached": reached})
                print(json.dumps(rows[-1]), flush=True)
    report = {
        "command": "python -m bench.ensemble_ranking " + " ".join(
            [f"--candidates {' '.join(map(str, args.candidates))}", f"--batches {' '.join(map(str, args.batches))}",
             f"--time-limit {args.time_limit:g}"]),
        "verifiers": VERIFIERS, "threads": 1, "machine": platform.platform(), "torch": torch.__version__,
        "rows": rows,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
