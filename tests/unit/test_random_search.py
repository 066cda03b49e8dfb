import json

import pytest
import torch

from search import NFEBudget, RandomSearch, SearchConfigError, replay, run_search


def test_best_is_the_highest_score_and_ranking_descends(denoiser, scorer):
    result = RandomSearch(num_candidates=10, batch_size=3).run(denoiser, scorer, base_seed=7)
    scores = [c.score for c in result.candidates]
    assert result.best.score == max(scores)
    assert [c.score for c in result.ranked] == sorted(scores, reverse=True)
    assert torch.equal(result.ranked_latents()[0:1], result.best.latent)
    assert torch.equal(result.best_latent, result.best.latent)


def test_candidate_i_uses_seed_base_plus_i_and_its_recipe_replays_it(denoiser, scorer):
    result = RandomSearch(num_candidates=6, batch_size=4).run(denoiser, scorer, base_seed=100)
    assert [c.seed for c in result.candidates] == list(range(100, 106))
    for candidate in result.candidates:
        assert torch.equal(replay(candidate.recipe, denoiser), candidate.latent)


def test_seeds_wrap_at_64_bits(denoiser, scorer):
    result = RandomSearch(num_candidates=3).run(denoiser, scorer, base_seed=2**64 - 2)
    assert [c.seed for c in result.candidates] == [2**64 - 2, 2**64 - 1, 0]


def test_candidates_run_in_batches_of_batch_size(denoiser, scorer):
    RandomSearch(num_candidates=10, batch_size=4).run(denoiser, scorer, base_seed=0)
    assert [len(seeds) for seeds, _, _ in denoiser.calls] == [4, 4, 2]


def test_nfes_are_the_denoisers_count(denoiser, scorer):
    result = RandomSearch(num_candidates=7, batch_size=3).run(denoiser, scorer, base_seed=0)
    assert result.search_nfes == denoiser.nfes == 7 * denoiser.steps * denoiser.rows_per_step
    assert all(c.nfes == denoiser.steps * denoiser.rows_per_step for c in result.candidates)


def test_batch_size_does_not_change_the_candidates(make_denoiser, scorer):
    one = RandomSearch(num_candidates=8, batch_size=1).run(make_denoiser(), scorer, base_seed=3)
    four = RandomSearch(num_candidates=8, batch_size=4).run(make_denoiser(), scorer, base_seed=3)
    assert [(c.seed, c.score) for c in one.candidates] == [(c.seed, c.score) for c in four.candidates]


@pytest.mark.parametrize("kwargs, parameter", [({"num_candidates": 0}, "num_candidates"),
                                               ({"num_candidates": 4, "batch_size": 0}, "batch_size"),
                                               ({"num_candidates": 4, "search_steps": -1}, "search_steps")])
def test_zero_budgets_are_refused_naming_the_parameter(kwargs, parameter):
    with pytest.raises(SearchConfigError, match=parameter) as error:
        RandomSearch(**kwargs)
    assert error.value.parameter == parameter


def test_an_nfe_budget_caps_the_candidates(denoiser, scorer):
    cost = denoiser.steps * denoiser.rows_per_step
    result = RandomSearch(num_candidates=100, batch_size=4, budget=NFEBudget(5 * cost + cost - 1)).run(
        denoiser, scorer, base_seed=0
    )
    assert len(result.candidates) == 5
    assert result.search_nfes == denoiser.nfes == 5 * cost


def test_a_budget_below_one_image_is_refused_with_the_cost(denoiser, scorer):
    cost = denoiser.steps * denoiser.rows_per_step
    with pytest.raises(SearchConfigError, match=f"max_nfes.*{cost}"):
        RandomSearch(num_candidates=4, budget=NFEBudget(cost - 1)).run(denoiser, scorer, base_seed=0)
    assert denoiser.nfes == 0


def test_cancel_between_batches_stops_the_search(denoiser, scorer):
    class CancelAfterFirstBatch:
        def __init__(self):
            self.batches = 0

        def check_cancelled(self):
            if self.batches == 1:
                raise KeyboardInterrupt("cancelled")

        def planned(self, total_nfes):
            pass

        def candidates_scored(self, done, total, best_score, nfes):
            self.batches += 1

    with pytest.raises(KeyboardInterrupt):
        RandomSearch(num_candidates=8, batch_size=2).run(denoiser, scorer, 0, CancelAfterFirstBatch())
    assert len(denoiser.calls) == 1


def test_progress_reports_the_plan_running_best_and_nfes(denoiser, scorer):
    reports, plans = [], []

    class Recorder:
        def check_cancelled(self):
            pass

        def planned(self, total_nfes):
            plans.append(total_nfes)

        def candidates_scored(self, done, total, best_score, nfes):
            reports.append((done, total, best_score, nfes))

    result = RandomSearch(num_candidates=5, batch_size=2).run(denoiser, scorer, 0, Recorder())
    assert plans == [result.search_nfes]
    assert [r[0] for r in reports] == [2, 4, 5]
    assert reports[-1][2] == result.best.score and reports[-1][3] == result.search_nfes
    assert [r[2] for r in reports] == sorted(r[2] for r in reports)
    assert [point[1] for point in result.curve] == [r[2] for r in reports]


@pytest.mark.parametrize("bad", [torch.tensor([0.1, float("nan")]), torch.tensor([[0.1], [0.2]])])
def test_a_bad_score_is_an_error_not_a_ranking(denoiser, bad):
    class BadScorer:
        def score(self, latents, probes=None):
            return bad

    with pytest.raises(RuntimeError, match="verifier"):
        RandomSearch(num_candidates=2, batch_size=2).run(denoiser, BadScorer(), 0)


def test_fewer_search_steps_render_the_winner_at_full_steps(make_denoiser, scorer):
    search, render = make_denoiser(steps=3), make_denoiser(steps=9)
    result = run_search(RandomSearch(num_candidates=4, batch_size=2, search_steps=3), search, scorer, 20,
                        render_denoiser=render)
    winner = result.best
    full = render.denoise(render.initial_noise(winner.seed), [winner.seed]).states
    assert torch.equal(result.best_latent, full)
    assert result.render_nfes == result.plain_image_nfes == 9 * 2
    assert result.search_nfes == 4 * 3 * 2
    assert torch.equal(replay(result.best_recipe, make_denoiser(steps=9)), result.best_latent)


def test_report_is_json_with_every_candidate_and_the_costs(denoiser, scorer):
    result = run_search(RandomSearch(num_candidates=4, batch_size=2), denoiser, scorer, base_seed=11)
    report = json.loads(json.dumps(result.to_report()))
    assert report["nfes"] == {"search": result.search_nfes, "render": 0, "total": result.search_nfes,
                              "plain_image": denoiser.steps * 2}
    assert report["parameters"]["base_seed"] == 11 and report["parameters"]["num_candidates"] == 4
    assert [c["seed"] for c in report["candidates"]] == [11, 12, 13, 14]
    assert report["best_index"] == result.best.index
    assert report["best_recipe"] == result.best.recipe
    table = result.format_table()
    assert str(result.best.seed) in table.splitlines()[1]
