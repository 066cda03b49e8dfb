import json
import math

import pytest
import torch

from search import NFEBudget, PrunedRandomSearch, RandomSearch, SearchConfigError, replay, run_search
from search.pruned_random import checkpoint_step, kept_count, parse_checkpoints


def finals(result):
    return [c for c in result.candidates if c.final]


def test_candidates_are_random_searchs_noises_and_an_unpruned_run_finds_the_same_samples(make_denoiser, scorer):
    """keep_fraction 1 prunes nothing: segment by segment, the toy sampler gives random search's samples exactly."""
    random = RandomSearch(num_candidates=6, batch_size=4).run(make_denoiser(steps=8), scorer, base_seed=50)
    pruned = PrunedRandomSearch(6, (0.25, 0.5), keep_fraction=1.0, batch_size=4).run(make_denoiser(steps=8), scorer, 50)
    first_round = [c for c in pruned.candidates if c.round == 1]
    assert [c.seed for c in first_round] == [c.seed for c in random.candidates] == list(range(50, 56))
    assert [(c.seed, c.score) for c in finals(pruned)] == [(c.seed, c.score) for c in random.candidates]
    assert torch.equal(pruned.best_latent, random.best_latent)


def test_the_first_checkpoint_scores_the_x0_predictions_of_random_searchs_noises(make_denoiser, scorer):
    denoiser = make_denoiser(steps=8)
    result = PrunedRandomSearch(5, (0.5,), keep_fraction=0.4, batch_size=2).run(denoiser, scorer, base_seed=9)
    reference = make_denoiser(steps=8)
    for candidate in (c for c in result.candidates if c.round == 1):
        x0 = reference.denoise(reference.initial_noise(candidate.seed), [candidate.seed], 0, 4).x0
        assert candidate.score == pytest.approx(float(x0.mean()))
        assert not candidate.final and candidate.recipe[-1] == {"op": "denoise", "stop": 4, "sampler_seed": candidate.seed}


def test_the_best_fraction_survives_each_checkpoint_and_the_rest_stop(denoiser, scorer):
    result = PrunedRandomSearch(10, (1 / 3, 2 / 3), keep_fraction=0.3, batch_size=3).run(denoiser, scorer, base_seed=1)
    rounds = {r: [c for c in result.candidates if c.round == r] for r in (1, 2, 3)}
    assert [len(rounds[r]) for r in (1, 2, 3)] == [10, 3, 1]
    for earlier, later in ((1, 2), (2, 3)):
        best = sorted(rounds[earlier], key=lambda c: (-c.score, c.index))[: len(rounds[later])]
        assert sorted(c.index for c in best) == sorted(c.parent for c in rounds[later])
        assert {c.index for c in rounds[earlier] if c.kept} == {c.index for c in best}
        for child in rounds[later]:
            parent = result.candidates[child.parent]
            assert child.seed == parent.seed and child.recipe[: len(parent.recipe)] == parent.recipe
    assert finals(result) == rounds[3] and result.best is rounds[3][0]
    assert result.parameters["survivors"] == [10, 3, 1] and result.parameters["checkpoint_steps"] == [2, 4]


def test_nfes_are_exact_and_only_survivors_pay_for_later_segments(denoiser, scorer):
    """6 steps at 2 NFEs per step; checkpoints at steps 2 and 3; 9 -> 5 -> 3 candidates."""
    result = PrunedRandomSearch(9, (1 / 3, 0.5), keep_fraction=0.5, batch_size=4).run(denoiser, scorer, base_seed=0)
    assert result.parameters["survivors"] == [9, 5, 3]
    expected = 9 * 2 * 2 + 5 * 1 * 2 + 3 * 3 * 2
    assert result.search_nfes == denoiser.nfes == expected
    assert sum(c.nfes for c in result.candidates) == expected
    assert [(start, stop) for _, start, stop in denoiser.calls] == [(0, 2)] * 3 + [(2, 3)] * 2 + [(3, 6)]
    assert [len(seeds) for seeds, _, _ in denoiser.calls] == [4, 4, 1, 4, 1, 3]


@pytest.mark.parametrize("alive, fraction, kept", [(10, 0.3, 3), (10, 0.25, 3), (7, 0.5, 4), (8, 0.5, 4), (3, 0.01, 1),
                                                   (5, 1.0, 5), (1, 0.5, 1), (100, 0.07, 7)])
def test_the_kept_count_rounds_up_and_keeps_at_least_one(alive, fraction, kept):
    assert kept_count(alive, fraction) == kept


def test_checkpoints_fall_on_the_nearest_step_rounding_halves_up():
    assert [checkpoint_step(f, 20) for f in (0.25, 0.5, 0.125)] == [5, 10, 3]
    assert checkpoint_step(0.25, 10) == 3 and checkpoint_step(0.3, 10) == 3


def test_a_budget_lowers_the_candidates_to_what_fits_with_pruning(denoiser, scorer):
    search = PrunedRandomSearch(100, (0.5,), keep_fraction=0.5, batch_size=4)
    cost = search.cost(12, [6, 6])
    assert cost == 12 * 6 + 6 * 6
    result = PrunedRandomSearch(100, (0.5,), 0.5, 4, budget=NFEBudget(cost + 5)).run(denoiser, scorer, base_seed=0)
    assert result.parameters["candidates_run"] == 12 and search.cost(13, [6, 6]) > cost + 5
    assert result.search_nfes == denoiser.nfes == cost


def test_the_plan_is_what_the_search_spends(denoiser, scorer):
    plans = []

    class Recorder:
        def check_cancelled(self):
            pass

        def planned(self, total_nfes):
            plans.append(total_nfes)

        def candidates_scored(self, done, total, best_score, nfes):
            assert done <= total

    result = PrunedRandomSearch(7, (0.5,), 0.5, 2, budget=NFEBudget(100)).run(denoiser, scorer, 0, Recorder())
    assert plans == [result.search_nfes] and result.search_nfes <= 100


def test_a_budget_below_one_full_candidate_is_refused_with_the_cost(denoiser, scorer):
    with pytest.raises(SearchConfigError, match="max_nfes.*one candidate costs 12 NFEs"):
        PrunedRandomSearch(4, budget=NFEBudget(11)).run(denoiser, scorer, base_seed=0)
    assert denoiser.nfes == 0


def test_batch_size_does_not_change_the_search(make_denoiser, scorer):
    one = PrunedRandomSearch(9, (0.25, 0.5), 0.5, batch_size=1).run(make_denoiser(steps=8), scorer, 3)
    four = PrunedRandomSearch(9, (0.25, 0.5), 0.5, batch_size=4).run(make_denoiser(steps=8), scorer, 3)
    assert [(c.seed, c.round, c.score, c.kept) for c in one.candidates] == [
        (c.seed, c.round, c.score, c.kept) for c in four.candidates]


def test_the_winners_recipe_replays_it(make_denoiser, scorer):
    result = PrunedRandomSearch(8, (0.25, 0.5), 0.5, batch_size=3).run(make_denoiser(steps=8), scorer, base_seed=77)
    ops = [op["op"] for op in result.best_recipe]
    assert ops == ["noise", "denoise", "denoise", "denoise"]
    assert torch.equal(replay(result.best_recipe, make_denoiser(steps=8)), result.best_latent)


def test_an_ensembles_winner_is_chosen_over_the_whole_set(make_denoiser):
    """A set-relative scorer holds every state of a stage; the kept ones are the best by the final combined score."""

    class RankEnsemble:
        verifier_names = ("mean", "max")
        combine = staticmethod(lambda columns: columns.argsort(0).argsort(0).double().mean(1))

        def score(self, latents, probes=None):
            flat = latents.flatten(1)
            return torch.stack([flat.mean(1), flat.amax(1)], dim=1)

    result = PrunedRandomSearch(8, (0.5,), 0.5, batch_size=3).run(make_denoiser(steps=6), RankEnsemble(), 5)
    first = [c for c in result.candidates if c.round == 1]
    kept = sorted(first, key=lambda c: (-c.score, c.index))[:4]
    assert {c.index for c in first if c.kept} == {c.index for c in kept}
    assert torch.equal(replay(result.best_recipe, make_denoiser(steps=6)), result.best_latent)


def test_search_steps_render_the_winner_and_score_the_render_again(make_denoiser, scorer):
    search, render = make_denoiser(steps=4), make_denoiser(steps=8)
    result = run_search(PrunedRandomSearch(6, (0.5,), 0.5, 2, search_steps=4), search, scorer, 20, render_denoiser=render)
    full = make_denoiser(steps=8)
    expected = full.denoise(full.initial_noise(result.best.seed), [result.best.seed]).states
    assert torch.equal(result.best_latent, expected)
    assert result.render_score == pytest.approx(float(expected.mean())) and result.render_score != result.best.score
    report = json.loads(json.dumps(result.to_report()))
    assert report["best_score"] == result.best.score and report["final_score"] == result.render_score
    assert report["final_rescored"] is True
    assert scorer.rows == 6 + 3 + 1  # every candidate at the checkpoint, the survivors at the end, one render
    table = result.format_table()
    assert f"final render score {result.render_score:.6g} (re-scored at 8 steps)" in table
    assert f"winner's previews: step 2 x0 {result.candidates[result.best.parent].score:.6g}" in table
    assert "pruned random search: 9 scored states (3 finished)," in table  # a checkpoint's record is not a candidate


def test_random_searchs_search_steps_winner_is_scored_again(make_denoiser, scorer):
    result = run_search(RandomSearch(4, 2, search_steps=3), make_denoiser(steps=3), scorer, 0,
                        render_denoiser=make_denoiser(steps=9))
    assert result.render_score == pytest.approx(float(result.best_latent.mean()))
    assert result.to_report()["final_score"] == result.render_score


def test_a_full_step_search_is_not_scored_again(denoiser, scorer):
    result = run_search(PrunedRandomSearch(4, (0.5,), 0.5), denoiser, scorer, 0)
    assert result.render_score is None and scorer.rows == 4 + 2
    assert result.to_report()["final_score"] == result.best.score and not result.to_report()["final_rescored"]


def test_a_non_finite_render_score_names_the_render(make_denoiser):
    class NaNOnRender:
        calls = 0

        def score(self, latents, probes=None):
            self.calls += 1
            scores = latents.flatten(1).mean(1)
            return scores if self.calls == 1 else torch.full_like(scores, math.nan)

    with pytest.raises(RuntimeError, match="winner's final render"):
        run_search(RandomSearch(2, 2, search_steps=2), make_denoiser(steps=2), NaNOnRender(), 0,
                   render_denoiser=make_denoiser(steps=4))


def test_the_self_supervised_probe_reaches_the_final_scoring_from_an_earlier_segment(make_denoiser):
    probes_seen = []

    class ProbeScorer:
        def score(self, latents, probes=None):
            probes_seen.append(probes)
            return latents.flatten(1).mean(1)

    denoiser = make_denoiser(steps=8, probe_index=1)
    result = PrunedRandomSearch(4, (0.5,), 0.5, batch_size=4).run(denoiser, ProbeScorer(), 0)
    assert probes_seen[0] is None and probes_seen[-1] is not None and probes_seen[-1].shape[0] == 2
    reference = make_denoiser(steps=8, probe_index=1)
    for row, candidate in enumerate(finals(result)):
        probe = reference.denoise(reference.initial_noise(candidate.seed), [candidate.seed]).probe
        assert torch.allclose(probes_seen[-1][row : row + 1], probe)


@pytest.mark.parametrize("kwargs, parameter, message", [
    ({"num_candidates": 0}, "num_candidates", "at least 1"),
    ({"keep_fraction": 0.0}, "keep_fraction", "in \\(0, 1\\]"),
    ({"keep_fraction": 1.5}, "keep_fraction", "in \\(0, 1\\]"),
    ({"keep_fraction": math.nan}, "keep_fraction", "in \\(0, 1\\]"),
    ({"checkpoints": ()}, "checkpoints", "is empty"),
    ({"checkpoints": (0.25, 1.0)}, "checkpoints", "has 1, outside the schedule"),
    ({"checkpoints": (0.0,)}, "checkpoints", "has 0, outside the schedule"),
    ({"checkpoints": (0.5, 0.25)}, "checkpoints", "has 0.25 after 0.5; list the checkpoints in increasing order"),
    ({"checkpoints": (0.5, 0.5)}, "checkpoints", "increasing order"),
    ({"batch_size": 0}, "batch_size", "at least 1"),
    ({"search_steps": -1}, "search_steps", "use 0"),
])
def test_bad_settings_are_refused_naming_the_parameter(kwargs, parameter, message):
    with pytest.raises(SearchConfigError, match=message) as error:
        PrunedRandomSearch(**{"num_candidates": 4, **kwargs})
    assert error.value.parameter == parameter


@pytest.mark.parametrize("steps, checkpoints, message", [
    (6, (0.05,), "has 0.05, which falls at step 0 of the 6-step schedule"),
    (6, (0.95,), "has 0.95, which falls at step 6 of the 6-step schedule"),
    (6, (0.3, 0.35), "has 0.3 and 0.35, which both fall at step 2 of the 6-step schedule"),
    (1, (0.5,), "a 1-step schedule has no step to prune at"),
])
def test_checkpoints_off_the_schedule_are_refused_before_sampling(make_denoiser, scorer, steps, checkpoints, message):
    denoiser = make_denoiser(steps=steps)
    with pytest.raises(SearchConfigError, match=message) as error:
        PrunedRandomSearch(4, checkpoints).run(denoiser, scorer, 0)
    assert error.value.parameter == "checkpoints" and denoiser.nfes == 0 and not denoiser.calls


def test_checkpoints_parse_from_text():
    assert parse_checkpoints(" 0.25, 0.5 ") == (0.25, 0.5)
    assert parse_checkpoints("0.2;0.4 0.6") == (0.2, 0.4, 0.6)
    assert parse_checkpoints("") == ()
    with pytest.raises(SearchConfigError, match="checkpoints: is '25%'; write fractions"):
        parse_checkpoints("25%")


def test_a_scorer_that_cannot_score_previews_is_refused_before_sampling(denoiser, finished_samples_scorer):
    with pytest.raises(SearchConfigError, match="^verifier: the self-supervised verifier scores only finished samples.*"
                       "pruned random search scores every candidate's x0 prediction at its checkpoints"):
        PrunedRandomSearch(num_candidates=4).run(denoiser, finished_samples_scorer, base_seed=0)
    assert denoiser.nfes == 0
