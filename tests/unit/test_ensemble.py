import time

import pytest
import torch

from search import RandomSearch
from verifiers.ensemble import average_ranks, checked_weights, combiner, rank_average, weighted_z_score

SCORES = torch.tensor([[0.30, 7.1], [0.10, 6.0], [0.20, 9.5], [0.20, 1.0]])  # 4 candidates x 2 verifiers


def test_ranks_count_from_the_lowest_and_ties_share_their_mean():
    assert average_ranks(torch.tensor([0.3, 0.1, 0.2, 0.2])).tolist() == [3.0, 0.0, 1.5, 1.5]


def test_rank_average_is_the_weighted_mean_of_scaled_ranks():
    # verifier 1 ranks (of 0..3): 3, 0, 1.5, 1.5 -> /3; verifier 2: 2, 1, 3, 0 -> /3
    expected = torch.tensor([(3 + 2) / 6, (0 + 1) / 6, (1.5 + 3) / 6, (1.5 + 0) / 6])
    torch.testing.assert_close(rank_average(SCORES, [1, 1]), expected)
    torch.testing.assert_close(rank_average(SCORES, [3, 1]), torch.tensor([1.0 * 0.75 + 2 / 3 * 0.25, 0 + 1 / 3 * 0.25,
                                                                           0.5 * 0.75 + 0.25, 0.5 * 0.75]))


@pytest.mark.parametrize("method", ["rank average", "weighted z-score"])
def test_raw_scales_never_leak_into_the_combination(method):
    combine = combiner(method, [1, 1])
    rescaled = SCORES * torch.tensor([1000.0, 0.001]) + torch.tensor([5.0, -3.0])
    torch.testing.assert_close(combine(SCORES), combine(rescaled), rtol=1e-4, atol=1e-4)  # float32 inputs


def test_z_scores_are_zero_for_a_verifier_that_cannot_tell_the_candidates_apart():
    flat = torch.tensor([[1.0, 2.0], [1.0, 4.0]])
    torch.testing.assert_close(weighted_z_score(flat, [1, 1]), torch.tensor([-0.5, 0.5]))


@pytest.mark.parametrize("weights", [[1], [1, -1], [0, 0]])
def test_weights_must_fit_the_verifiers(weights):
    with pytest.raises(ValueError):
        checked_weights(weights, 2)


def test_a_search_ranks_candidates_against_the_whole_set(make_denoiser):
    class TwoVerifierScorer:
        combine = staticmethod(combiner("rank average", [1, 1]))

        def __init__(self):
            self.columns = []

        def score(self, latents, probes=None):
            rows = torch.stack([latents.flatten(1).mean(dim=1), 1000 * latents.flatten(1).std(dim=1)], dim=1)
            self.columns.append(rows)
            return rows

    scorer = TwoVerifierScorer()
    result = RandomSearch(num_candidates=7, batch_size=3).run(make_denoiser(), scorer, base_seed=5)
    expected = rank_average(torch.cat(scorer.columns), [1, 1])
    assert [c.score for c in result.candidates] == pytest.approx(expected.tolist())
    assert result.best.score == pytest.approx(float(expected.max()))
    assert result.curve[-1][1] == pytest.approx(float(expected.max()))


def test_ranks_match_their_definition_on_many_ties():
    column = torch.randint(0, 7, (300,), generator=torch.Generator().manual_seed(0)).double()
    below = (column[None, :] < column[:, None]).sum(dim=1)
    tied_others = (column[None, :] == column[:, None]).sum(dim=1) - 1
    torch.testing.assert_close(average_ranks(column), (below + tied_others / 2).double())


@pytest.mark.parametrize("method", ["rank average", "weighted z-score"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_member_score_that_is_not_finite_is_refused_never_ranked(method, value):
    scores = SCORES.clone()
    scores[2, 1] = value
    with pytest.raises(ValueError, match=rf"verifier 2 of the ensemble gave candidate 2 a score of {value}"):
        combiner(method, [1, 1])(scores)


@pytest.mark.parametrize("weights", [[float("nan"), 1], [float("inf"), 1], [1e308, 1e308]])
def test_weights_must_be_finite(weights):
    with pytest.raises(ValueError, match="finite"):
        checked_weights(weights, 2)


def test_ranking_a_large_set_takes_n_log_n_not_n_squared():
    scores = torch.randn((50_000, 2), generator=torch.Generator().manual_seed(0))
    start = time.process_time()
    combined = rank_average(scores, [1, 1])
    assert time.process_time() - start < 2.0  # a loop over tied values took 15 s of CPU here
    assert combined.shape == (50_000,) and 0 <= float(combined.min()) < float(combined.max()) <= 1
