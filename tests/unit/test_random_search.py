import json

import pytest
import torch

from search import RandomSearch, SearchConfigError


def test_best_is_the_highest_score_and_ranking_descends(denoiser, scorer):
    result = RandomSearch(num_candidates=10, batch_size=3).run(denoiser, scorer, base_seed=7)
    scores = [c.score for c in result.candidates]
    assert result.best.score == max(scores)
    assert [c.score for c in result.ranked] == sorted(scores, reverse=True)
    assert torch.equal(result.ranked_latents()[0:1], result.best.latent)


def test_candidate_i_uses_seed_base_plus_i_and_its_latent_is_reproducible(denoiser, scorer):
    result = RandomSearch(num_candidates=6, batch_size=4).run(denoiser, scorer, base_seed=100)
    assert [c.seed for c in result.candidates] == list(range(100, 106))
    for candidate in result.candidates:
        alone = denoiser.denoise(denoiser.initial_noise(candidate.seed), [candidate.seed])
        assert torch.equal(alone, candidate.latent)


def test_seeds_wrap_at_64_bits(denoiser, scorer):
    result = RandomSearch(num_candidates=3).run(denoiser, scorer, base_seed=2**64 - 2)
    assert [c.seed for c in result.candidates] == [2**64 - 2, 2**64 - 1, 0]


def test_candidates_run_in_batches_of_batch_size(denoiser, scorer):
    RandomSearch(num_candidates=10, batch_size=4).run(denoiser, scorer, base_seed=0)
    assert [len(call) for call in denoiser.calls] == [4, 4, 2]


def test_nfes_are_the_denoisers_count(denoiser, scorer):
    result = RandomSearch(num_candidates=7, batch_size=3).run(denoiser, scorer, base_seed=0)
    assert result.nfes == denoiser.nfes == 7 * denoiser.steps * denoiser.rows_per_step
    assert all(c.nfes == denoiser.steps * denoiser.rows_per_step for c in result.candidates)


def test_batch_size_does_not_change_the_candidates(make_denoiser, scorer):
    one = RandomSearch(num_candidates=8, batch_size=1).run(make_denoiser(), scorer, base_seed=3)
    four = RandomSearch(num_candidates=8, batch_size=4).run(make_denoiser(), scorer, base_seed=3)
    assert [(c.seed, c.score) for c in one.candidates] == [(c.seed, c.score) for c in four.candidates]


@pytest.mark.parametrize("kwargs, parameter", [({"num_candidates": 0}, "num_candidates"),
                                               ({"num_candidates": 4, "batch_size": 0}, "batch_size")])
def test_zero_budgets_are_refused_naming_the_parameter(kwargs, parameter):
    with pytest.raises(SearchConfigError, match=parameter) as error:
        RandomSearch(**kwargs)
    assert error.value.parameter == parameter


def test_cancel_between_batches_stops_the_search(denoiser, scorer):
    class CancelAfterFirstBatch:
        def __init__(self):
            self.batches = 0

        def check_cancelled(self):
            if self.batches == 1:
                raise KeyboardInterrupt("cancelled")

        def candidates_scored(self, done, total, best_score, nfes):
            self.batches += 1

    with pytest.raises(KeyboardInterrupt):
        RandomSearch(num_candidates=8, batch_size=2).run(denoiser, scorer, 0, CancelAfterFirstBatch())
    assert len(denoiser.calls) == 1


def test_progress_reports_running_best_and_nfes(denoiser, scorer):
    reports = []

    class Recorder:
        def check_cancelled(self):
            pass

        def candidates_scored(self, done, total, best_score, nfes):
            reports.append((done, total, best_score, nfes))

    result = RandomSearch(num_candidates=5, batch_size=2).run(denoiser, scorer, 0, Recorder())
    assert [r[0] for r in reports] == [2, 4, 5]
    assert reports[-1][2] == result.best.score and reports[-1][3] == result.nfes
    assert [r[2] for r in reports] == sorted(r[2] for r in reports)


@pytest.mark.parametrize("bad", [torch.tensor([0.1, float("nan")]), torch.tensor([[0.1], [0.2]])])
def test_a_bad_score_is_an_error_not_a_ranking(denoiser, bad):
    class BadScorer:
        def score(self, latents):
            return bad

    with pytest.raises(RuntimeError, match="verifier"):
        RandomSearch(num_candidates=2, batch_size=2).run(denoiser, BadScorer(), 0)


def test_report_is_json_with_every_candidate(denoiser, scorer):
    result = RandomSearch(num_candidates=4, batch_size=2).run(denoiser, scorer, base_seed=11)
    report = json.loads(json.dumps(result.to_report()))
    assert report["nfes"] == result.nfes
    assert report["parameters"] == {"num_candidates": 4, "batch_size": 2, "base_seed": 11}
    assert [c["seed"] for c in report["candidates"]] == [11, 12, 13, 14]
    assert report["best_index"] == result.best.index
    table = result.format_table()
    assert str(result.best.seed) in table.splitlines()[1]
