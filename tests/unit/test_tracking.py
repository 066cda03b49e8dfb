"""The search's book-keeping: non-finite scores refused by name, and what it holds bounded by HELD_CANDIDATES."""

from __future__ import annotations

import gc

import pytest
import torch

from search import NonFiniteScore, NullMonitor, PathsSearch, RandomSearch, ZeroOrderSearch, replay
from search.recipes import denoise_op, noise_op
from search.tracking import HELD_CANDIDATES, SearchLog
from verifiers.ensemble import combiner, rank_average


class NamedScorer:
    """Scores by the mean, except the rows listed in ``bad`` (by candidate index) get ``value``."""

    verifier_names = ("toy verifier",)

    def __init__(self, bad: set[int], value: float) -> None:
        self.bad, self.value, self.seen = bad, value, 0

    def score(self, latents, probes=None):
        scores = latents.flatten(1).mean(dim=1)
        for row in range(latents.shape[0]):
            if self.seen + row in self.bad:
                scores[row] = self.value
        self.seen += latents.shape[0]
        return scores


class TwoVerifierScorer:
    """An ensemble of two statistics on unrelated scales, ranked over the whole set (set-relative scores)."""

    verifier_names = ("mean", "spread")
    combine = staticmethod(combiner("rank average", [1, 1]))

    def __init__(self, nan_for: int | None = None) -> None:
        self.nan_for, self.seen, self.columns = nan_for, 0, []

    def score(self, latents, probes=None):
        rows = torch.stack([latents.flatten(1).mean(dim=1), 1000 * latents.flatten(1).std(dim=1)], dim=1)
        if self.nan_for is not None and self.seen <= self.nan_for < self.seen + len(rows):
            rows[self.nan_for - self.seen, 1] = float("nan")
        self.seen += len(rows)
        self.columns.append(rows)
        return rows


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_score_stops_the_search_naming_the_verifier_and_the_candidate(denoiser, value):
    with pytest.raises(NonFiniteScore, match=r"the verifier toy verifier gave candidate 5 \(seed 105\) a score of "
                       rf"{value}: a NaN or inf score cannot be ranked.*--fp32-vae"):
        RandomSearch(num_candidates=8, batch_size=4).run(denoiser, NamedScorer({5}, value), base_seed=100)


def test_a_zero_order_neighbour_with_a_nan_score_is_named_by_its_index(denoiser):
    with pytest.raises(NonFiniteScore, match=r"toy verifier gave candidate 3 \(seed 7\) a score of nan"):
        ZeroOrderSearch(num_neighbours=4, iterations=2, batch_size=2).run(denoiser, NamedScorer({3}, float("nan")), 7)


def test_an_ensemble_member_with_a_nan_score_is_named_and_never_ranked(denoiser):
    with pytest.raises(NonFiniteScore, match=r"the verifier spread \(verifier 2 of the ensemble\) gave candidate 6 "
                       r"\(seed 6\) a score of nan"):
        RandomSearch(num_candidates=8, batch_size=3).run(denoiser, TwoVerifierScorer(nan_for=6), base_seed=0)


@pytest.fixture
def one_thread():
    """Many tiny tensor operations: one thread spares them waiting on each other on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def live_latent_bytes() -> int:
    """Bytes of every distinct storage behind a live 4-d tensor (latents and their batches) in this process."""
    storages = {}
    for obj in gc.get_objects():
        if issubclass(type(obj), torch.Tensor) and obj.ndim == 4:
            storage = obj.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


class PeakLatents(NullMonitor):
    """Samples the live latent bytes after every ``every``-th batch; keeps the peak."""

    def __init__(self, every: int) -> None:
        self.every, self.batches, self.peak = every, 0, 0

    def candidates_scored(self, done, total, best_score, nfes):
        self.batches += 1
        if self.batches % self.every == 0 or done == total:
            self.peak = max(self.peak, live_latent_bytes())


def run_measured(search, denoiser, scorer):
    gc.collect()
    baseline = live_latent_bytes()
    monitor = PeakLatents(every=10)
    result = search.run(denoiser, scorer, base_seed=0, monitor=monitor)
    return result, monitor.peak - baseline


@pytest.mark.parametrize("make_search, make_scorer", [
    (lambda n: RandomSearch(num_candidates=n, batch_size=4), lambda: NamedScorer(set(), 0.0)),
    (lambda n: RandomSearch(num_candidates=n, batch_size=4), TwoVerifierScorer),
    (lambda n: ZeroOrderSearch(num_neighbours=n // 10, iterations=10, batch_size=4), lambda: NamedScorer(set(), 0.0)),
], ids=["random", "random-ensemble", "zero-order"])
def test_latents_held_do_not_grow_with_the_candidates(make_denoiser, make_search, make_scorer, one_thread):
    latent_bytes = make_denoiser().initial_noise(0).nbytes
    small, small_peak = run_measured(make_search(100), make_denoiser(), make_scorer())
    large, large_peak = run_measured(make_search(600), make_denoiser(), make_scorer())
    assert len(large.candidates) >= 9 * HELD_CANDIDATES
    for result in (small, large):
        held = [c for c in result.candidates if c.latent is not None]
        assert len(held) == HELD_CANDIDATES and result.ranked_latents().shape[0] == HELD_CANDIDATES
        assert sum(c.latent.untyped_storage().nbytes() for c in held) == HELD_CANDIDATES * latent_bytes  # own copies
    # while searching: the held latents plus the batch in flight, whether 100 or 1000 candidates ran
    assert large_peak <= (HELD_CANDIDATES + 16) * latent_bytes
    assert large_peak - small_peak <= 8 * latent_bytes


def test_the_best_finished_candidates_keep_their_latents_and_replay_to_them(denoiser, scorer):
    result = RandomSearch(num_candidates=3 * HELD_CANDIDATES, batch_size=5).run(denoiser, scorer, base_seed=11)
    top, rest = result.ranked[:HELD_CANDIDATES], result.ranked[HELD_CANDIDATES:]
    assert all(c.latent is None for c in rest) and result.best is top[0]
    assert torch.equal(result.ranked_latents(), torch.cat([c.latent for c in top]))
    assert result.best_latent is result.best.latent
    for candidate in top[:: HELD_CANDIDATES // 4]:
        assert torch.equal(replay(candidate.recipe, denoiser), candidate.latent)


def test_paths_hold_only_the_finished_samples(denoiser, scorer):
    result = PathsSearch(num_paths=3, branches=4, start_step=2, forward_steps=1, backward_steps=2, batch_size=5).run(
        denoiser, scorer, base_seed=2)
    assert [c.index for c in result.candidates if c.latent is not None] == sorted(c.index for c in result.ranked)
    assert len(result.ranked) == 3 and result.ranked_latents().shape[0] == 3


class ScriptedColumns:
    """An ensemble scorer whose columns are given batch by batch; tells what it was asked to retain."""

    verifier_names = ("first", "second")
    combine = staticmethod(combiner("rank average", [1, 1]))

    def __init__(self, batches):
        self.batches, self.retained = list(batches), []

    def score(self, latents, probes=None):
        return torch.tensor(self.batches.pop(0))

    def retain(self, held):
        self.retained.append(set(held))


def record_batches(log, denoiser, seed_batches):
    for seeds in seed_batches:
        noise = torch.cat([denoiser.initial_noise(seed) for seed in seeds])
        before = denoiser.nfes
        states = denoiser.denoise(noise, seeds).states
        log.record(states, [[noise_op(s), denoise_op(denoiser.steps, s)] for s in seeds], denoiser.nfes - before)


def test_an_ensemble_winner_dropped_while_it_ranked_low_is_remade_from_its_recipe(denoiser):
    # batch 1: candidates 0 (2, 2) and 1 (3, 0) tie on mean rank; holding one, candidate 0 stays.
    # batch 2: candidate 2 (2.5, -1) falls between them on the first verifier: candidate 1 now wins.
    scorer = ScriptedColumns([[[2.0, 2.0], [3.0, 0.0]], [[2.5, -1.0]]])
    log = SearchLog(denoiser, scorer, NullMonitor(), 3, hold=1)
    record_batches(log, denoiser, [[0, 1], [2]])
    assert scorer.retained == [{0}, {0}]
    spent_searching = denoiser.nfes
    result = log.result("random search", {})
    spent = denoiser.nfes
    expected = rank_average(torch.tensor([[2.0, 2.0], [3.0, 0.0], [2.5, -1.0]]), [1, 1])
    assert [c.score for c in result.candidates] == pytest.approx(expected.tolist())
    assert result.best.index == 1 and result.curve[-1][1] == pytest.approx(float(expected.max()))
    assert torch.equal(result.best_latent, replay(result.best.recipe, denoiser))
    assert result.best.latent is result.best_latent
    assert [c.index for c in result.candidates if c.latent is not None] == [1]  # still one held
    assert result.search_nfes == spent == spent_searching * 4 // 3  # the re-make counts as a 4th candidate


def test_the_scorer_is_told_which_candidates_are_held_after_every_batch(denoiser, scorer):
    told = []
    scorer.retain = lambda held: told.append(held)
    result = RandomSearch(num_candidates=2 * HELD_CANDIDATES, batch_size=8).run(denoiser, scorer, base_seed=3)
    assert len(told) == 2 * HELD_CANDIDATES // 8 and all(len(held) <= HELD_CANDIDATES for held in told)
    assert told[-1] == {c.index for c in result.ranked[:HELD_CANDIDATES]}


class TimedScorer(NamedScorer):
    """Reports half a second of verifier time per row scored, as DecodeAndScore adds up its verifier's time."""

    def __init__(self) -> None:
        super().__init__(set(), 0.0)
        self.verifier_seconds = 3.0  # spent before this search: not the search's

    def score(self, latents, probes=None):
        self.verifier_seconds += 0.5 * latents.shape[0]
        return super().score(latents, probes)


def test_the_verifier_seconds_are_reported_beside_the_nfes(denoiser):
    result = RandomSearch(num_candidates=6, batch_size=4).run(denoiser, TimedScorer(), base_seed=0)
    assert [point[2] for point in result.curve] == [2.0, 3.0]
    assert result.verifier_seconds == 3.0 and result.to_report()["verifier_seconds"] == 3.0
    assert "verifier 3.00 s" in result.format_table()
