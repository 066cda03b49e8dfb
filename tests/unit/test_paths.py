import pytest
import torch

from search import NFEBudget, PathsSearch, SearchConfigError, replay


def test_rounds_advance_by_backward_minus_forward_steps():
    search = PathsSearch(start_step=2, forward_steps=1, backward_steps=3)
    assert search.rounds(8) == [(2, 1, 4), (4, 3, 6), (6, 5, 8)]
    assert PathsSearch(start_step=3, forward_steps=2, backward_steps=3).rounds(5) == [(3, 1, 4), (4, 2, 5)]


def test_final_candidates_descend_from_kept_branches(denoiser, scorer):
    search = PathsSearch(num_paths=2, branches=3, start_step=2, forward_steps=1, backward_steps=2, batch_size=4)
    result = search.run(denoiser, scorer, base_seed=3)
    by_index = {c.index: c for c in result.candidates}
    last_round = max(c.round for c in result.candidates)
    assert last_round == len(search.rounds(denoiser.steps))
    for round_ in range(1, last_round + 1):
        in_round = [c for c in result.candidates if c.round == round_]
        assert len(in_round) == 2 * 3
        assert sum(c.kept for c in in_round) == 2
        kept_scores = sorted((c.score for c in in_round if c.kept), reverse=True)
        assert kept_scores == sorted((c.score for c in in_round), reverse=True)[:2]
    for candidate in result.ranked:
        assert candidate.round == last_round and candidate.final
        chain = candidate
        while chain.parent is not None:
            parent = by_index[chain.parent]
            assert parent.kept and parent.round == chain.round - 1
            assert chain.recipe[: len(parent.recipe)] == parent.recipe
            chain = parent
        assert chain.round == 1
    assert len(result.ranked) == 2


def test_nfes_match_the_plan_and_the_winner_replays(denoiser, scorer):
    search = PathsSearch(num_paths=2, branches=2, start_step=3, forward_steps=1, backward_steps=2, batch_size=3)
    result = search.run(denoiser, scorer, base_seed=8)
    rounds = search.rounds(denoiser.steps)
    expected = 2 * 3 * 2 + sum(2 * 2 * (stop - to) * 2 for _, to, stop in rounds)
    assert result.search_nfes == denoiser.nfes == expected
    assert torch.equal(replay(result.best.recipe, denoiser), result.best.latent)


def test_intermediate_branches_are_scored_on_x0_predictions(denoiser):
    scored = []

    class RecordingScorer:
        def score(self, latents, probes=None):
            scored.append(latents)
            return latents.flatten(1).mean(dim=1)

    result = PathsSearch(num_paths=1, branches=2, start_step=2, forward_steps=1, backward_steps=2).run(
        denoiser, RecordingScorer(), base_seed=1
    )
    first = result.candidates[0]
    assert not first.final and first.latent is None  # a branch scored halfway is never an output: nothing held
    assert scored[0][0].abs().max() <= 1.0  # the toy network's x0 is a tanh; noisy states are not bounded so


def test_a_budget_lowers_the_branches_to_what_fits(denoiser, make_denoiser, scorer):
    search = PathsSearch(num_paths=2, branches=4, start_step=2, forward_steps=1, backward_steps=2)
    full = search.run(denoiser, scorer, base_seed=0).search_nfes
    start_cost = 2 * 2 * 2
    per_branch = (full - start_cost) // 4
    capped = PathsSearch(num_paths=2, branches=4, start_step=2, forward_steps=1, backward_steps=2,
                         budget=NFEBudget(start_cost + 2 * per_branch + per_branch // 2))
    fresh = make_denoiser()
    result = capped.run(fresh, scorer, base_seed=0)
    assert result.parameters["branches_run"] == 2
    assert result.search_nfes == fresh.nfes == start_cost + 2 * per_branch


def test_a_budget_below_the_search_is_refused(denoiser, scorer):
    with pytest.raises(SearchConfigError, match="max_nfes"):
        PathsSearch(num_paths=2, branches=2, budget=NFEBudget(10)).run(denoiser, scorer, base_seed=0)
    assert denoiser.nfes == 0


@pytest.mark.parametrize("kwargs, parameter", [
    ({"forward_steps": 2, "backward_steps": 2}, "backward_steps"),
    ({"forward_steps": 3, "backward_steps": 1}, "backward_steps"),
    ({"start_step": 0}, "start_step"), ({"start_step": 2, "forward_steps": 2, "backward_steps": 3}, "start_step"),
    ({"num_paths": 0}, "num_paths"), ({"branches": 0}, "branches"),
    ({"forward_steps": 0}, "forward_steps"),
])
def test_bad_parameters_are_refused_naming_them(kwargs, parameter):
    with pytest.raises(SearchConfigError, match=parameter):
        PathsSearch(**kwargs)


def test_a_start_step_outside_the_schedule_is_refused_with_the_range_that_works(denoiser, scorer):
    with pytest.raises(SearchConfigError, match="start_step: is 6, outside the schedule of 6 steps; use 3 to 5"):
        PathsSearch(start_step=6, forward_steps=2).run(denoiser, scorer, base_seed=0)


def test_a_schedule_too_short_for_the_forward_steps_says_how_many_steps_it_needs(make_denoiser, scorer):
    with pytest.raises(SearchConfigError, match="with forward_steps 2 the sampler needs at least 4 steps"):
        PathsSearch(start_step=3, forward_steps=2).run(make_denoiser(steps=3), scorer, base_seed=0)


def test_a_scorer_that_cannot_score_previews_is_refused_before_sampling(denoiser, finished_samples_scorer):
    with pytest.raises(SearchConfigError, match="^verifier: the self-supervised verifier scores only finished samples.*"
                       "search over paths scores every branch's x0 prediction"):
        PathsSearch(num_paths=2, branches=2, start_step=2, forward_steps=1, backward_steps=2).run(
            denoiser, finished_samples_scorer, base_seed=0)
    assert denoiser.nfes == 0
