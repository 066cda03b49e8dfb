import math

import pytest
import torch

from search import NFEBudget, SearchConfigError, ZeroOrderSearch, replay
from search.recipes import initial_noise_of


class DecliningScorer:
    """Every later image scores lower: no neighbour ever beats its pivot."""

    def __init__(self):
        self.count = 0

    def score(self, latents, probes=None):
        scores = -torch.arange(self.count, self.count + latents.shape[0], dtype=torch.float32)
        self.count += latents.shape[0]
        return scores


def test_never_worse_than_the_first_pivot_and_reproducible(make_denoiser, scorer):
    search = ZeroOrderSearch(num_neighbours=3, iterations=3, angle=0.4, batch_size=2)
    first = search.run(make_denoiser(), scorer, base_seed=5)
    again = search.run(make_denoiser(), scorer, base_seed=5)
    assert first.candidates[0].recipe[0] == {"op": "noise", "seed": 5}
    assert first.best.score >= first.candidates[0].score
    assert [(c.score, c.recipe) for c in first.candidates] == [(c.score, c.recipe) for c in again.candidates]


def test_the_pivot_is_scored_once_not_every_round(denoiser, scorer):
    search = ZeroOrderSearch(num_neighbours=3, iterations=4, batch_size=3)
    result = search.run(denoiser, scorer, base_seed=1)
    fresh_pivots = len(result.candidates) - 1 - 4 * 3  # a rejected round (but the last) adds one fresh pivot
    assert scorer.rows == len(result.candidates)
    assert sum(len(seeds) for seeds, _, _ in denoiser.calls) == len(result.candidates)
    assert 0 <= fresh_pivots <= 3


def test_neighbours_lie_at_angle_lambda_from_their_pivot(denoiser, scorer):
    result = ZeroOrderSearch(num_neighbours=4, iterations=2, angle=0.3).run(denoiser, scorer, base_seed=9)
    by_index = {c.index: c for c in result.candidates}
    for candidate in result.candidates:
        if candidate.parent is None:
            continue
        mine = initial_noise_of(candidate.recipe, denoiser).flatten().double()
        pivot = initial_noise_of(by_index[candidate.parent].recipe, denoiser).flatten().double()
        assert mine.norm() == pytest.approx(pivot.norm().item(), rel=1e-5)
        assert (mine @ pivot / mine.norm() / pivot.norm()).item() == pytest.approx(math.cos(0.3), abs=1e-5)


def test_a_round_without_improvement_draws_a_fresh_pivot(denoiser):
    result = ZeroOrderSearch(num_neighbours=2, iterations=3).run(denoiser, DecliningScorer(), base_seed=2)
    assert len(result.candidates) == 1 + 3 * 2 + 2  # no fresh pivot after the last round: it would go unused
    fresh = [c for c in result.candidates if c.parent is None]
    assert len(fresh) == 3 and len({c.seed for c in fresh}) == 3
    round_two_parents = {c.parent for c in result.candidates if c.round == 2 and c.recipe[-2]["op"] == "neighbour"}
    assert round_two_parents == {fresh[1].index}
    assert result.best.index == 0


def test_every_candidate_replays_from_its_recipe(denoiser, scorer):
    result = ZeroOrderSearch(num_neighbours=2, iterations=3, batch_size=2).run(denoiser, scorer, base_seed=4)
    for candidate in result.candidates:
        assert torch.equal(replay(candidate.recipe, denoiser), candidate.latent)


def test_an_nfe_budget_stops_the_rounds(denoiser, scorer):
    cost = denoiser.steps * denoiser.rows_per_step
    result = ZeroOrderSearch(num_neighbours=4, iterations=10, budget=NFEBudget(7 * cost)).run(
        denoiser, scorer, base_seed=0
    )
    assert result.search_nfes == denoiser.nfes <= 7 * cost
    assert len(result.candidates) >= 5


@pytest.mark.parametrize("kwargs, parameter", [
    ({"angle": 0.0}, "lambda"), ({"angle": -1.0}, "lambda"), ({"angle": 4.0}, "lambda"),
    ({"num_neighbours": 0}, "num_neighbours"), ({"iterations": 0}, "iterations"), ({"batch_size": 0}, "batch_size"),
])
def test_bad_parameters_are_refused_naming_them(kwargs, parameter):
    with pytest.raises(SearchConfigError, match=parameter):
        ZeroOrderSearch(**kwargs)


def test_neighbours_keep_their_pivots_sampler_seed(denoiser, scorer):
    """With an ancestral or SDE sampler only the initial noise moves, so the search stays local."""
    result = ZeroOrderSearch(num_neighbours=3, iterations=3, batch_size=2).run(denoiser, DecliningScorer(), base_seed=4)
    by_index = {c.index: c for c in result.candidates}
    neighbours = [c for c in result.candidates if c.parent is not None]
    assert neighbours and len({c.recipe[-1]["sampler_seed"] for c in result.candidates}) > 1  # fresh pivots differ
    for candidate in neighbours:
        assert candidate.recipe[-1]["sampler_seed"] == by_index[candidate.parent].recipe[-1]["sampler_seed"]
