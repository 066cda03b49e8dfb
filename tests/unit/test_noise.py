import math

import pytest
import torch

from search.noise import renoise_variance_exploding, sphere_neighbour
from search.seeds import derive_seed, offset_seed


def test_a_sphere_neighbour_keeps_the_norm_at_the_given_angle():
    generator = torch.Generator().manual_seed(0)
    pivot = torch.randn((1, 4, 16, 16), generator=generator)
    neighbour = sphere_neighbour(pivot, 0.5, torch.randn(pivot.shape, generator=generator))
    assert neighbour.shape == pivot.shape
    assert neighbour.norm().item() == pytest.approx(pivot.norm().item(), rel=1e-6)
    cosine = torch.nn.functional.cosine_similarity(neighbour.flatten(), pivot.flatten(), dim=0)
    assert cosine.item() == pytest.approx(math.cos(0.5), abs=1e-6)


def test_renoising_adds_the_missing_variance():
    clean = torch.zeros(200_000)
    generator = torch.Generator().manual_seed(1)
    at_half = renoise_variance_exploding(clean, 0.0, 0.5, torch.randn(clean.shape, generator=generator))
    at_two = renoise_variance_exploding(at_half, 0.5, 2.0, torch.randn(clean.shape, generator=generator))
    assert at_two.std().item() == pytest.approx(2.0, rel=0.01)
    with pytest.raises(ValueError):
        renoise_variance_exploding(clean, 1.0, 0.5, clean)


def test_derived_seeds_are_stable_distinct_and_in_range():
    seeds = {derive_seed(7, a, b) for a in range(4) for b in range(50)}
    assert len(seeds) == 200 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(7, 1, 2) == derive_seed(7, 1, 2) != derive_seed(8, 1, 2)
    assert offset_seed(2**64 - 1, 1) == 0
