"""Every algorithm under a noise mask: rows continue with their own initial noise outside the mask."""

from __future__ import annotations

import pytest
import torch

from search import FKSteering, PathsSearch, PrunedRandomSearch, RandomSearch, ZeroOrderSearch, replay
from search.recipes import initial_noise_of
from tests.unit.conftest import MaskedToyDenoiser, MeanScorer

ALGORITHMS = {
    "random": lambda: RandomSearch(num_candidates=4, batch_size=2),
    "zero_order": lambda: ZeroOrderSearch(num_neighbours=2, iterations=2, batch_size=2),
    "paths": lambda: PathsSearch(num_paths=2, branches=2, start_step=2, forward_steps=1, backward_steps=2, batch_size=3),
    "fk_steering": lambda: FKSteering(num_particles=3, lam=50.0, start_step=2, interval=2, ess_threshold=1.0,
                                      batch_size=2),
    "pruned_random": lambda: PrunedRandomSearch(num_candidates=4, checkpoints=(0.34, 0.67), batch_size=3),
}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_the_winner_replays_and_keeps_the_source_outside_the_mask(name):
    denoiser = MaskedToyDenoiser()
    result = ALGORITHMS[name]().run(denoiser, MeanScorer(), base_seed=3)
    torch.testing.assert_close(replay(result.best.recipe, MaskedToyDenoiser()), result.best_latent)
    outside = denoiser.mask == 0
    torch.testing.assert_close(result.best_latent[outside], denoiser.source.expand_as(result.best_latent)[outside])


def test_a_row_given_another_rows_initial_noise_ends_elsewhere_in_the_mask():
    """The replay check above can fail: the masked region depends on the noise outside the mask."""
    denoiser = MaskedToyDenoiser()
    first, second = denoiser.initial_noise(1), denoiser.initial_noise(2)
    half = denoiser.denoise(first, [1], 0, 3).states
    own = denoiser.denoise(half, [1], 3, initial_noises=first).states
    other = denoiser.denoise(half, [1], 3, initial_noises=second).states
    inside = denoiser.mask == 1
    assert (own[inside] - other[inside]).abs().max() > 1e-3


def test_continuing_with_each_rows_initial_noise_equals_one_uninterrupted_run():
    denoiser = MaskedToyDenoiser()
    noises = torch.cat([denoiser.initial_noise(seed) for seed in (5, 6)])
    whole = denoiser.denoise(noises, [5, 6]).states
    half = denoiser.denoise(noises, [5, 6], 0, 2).states
    torch.testing.assert_close(denoiser.denoise(half, [5, 6], 2, initial_noises=noises).states, whole)


def test_pruned_winner_is_the_plain_masked_run_of_its_seed():
    denoiser = MaskedToyDenoiser()
    result = ALGORITHMS["pruned_random"]().run(denoiser, MeanScorer(), base_seed=3)
    plain = MaskedToyDenoiser().denoise(initial_noise_of(result.best.recipe, denoiser), [result.best.seed]).states
    torch.testing.assert_close(result.best_latent, plain)


def test_a_segment_from_mid_schedule_without_initial_noises_is_refused_by_the_toy():
    denoiser = MaskedToyDenoiser()
    with pytest.raises(AssertionError, match="needs each row's initial noise"):
        denoiser.denoise(denoiser.initial_noise(1), [1], 2)
