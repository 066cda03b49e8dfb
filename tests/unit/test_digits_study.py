"""The miniature study's seed plan: every sample searches its own candidates, in every arm."""

from __future__ import annotations

import pytest

from bench.digits_study import ARMS, BUDGETS, STEPS, SamplePlan, searched_sample, shared_seeds, spread, study_plan
from search import FKSteering, NFEBudget, PathsSearch, PrunedRandomSearch, RandomSearch, ZeroOrderSearch
from search.engine import run_search
from search.pruned_random import parse_checkpoints


def algorithm(node_type: str, inputs: dict):
    """The algorithm an arm's node inputs make (as nodes/algorithm_nodes.py builds it)."""
    budget = NFEBudget(inputs["max_nfes"])
    if node_type == "NoiseSearchRandomSearch":
        return RandomSearch(inputs["num_candidates"], inputs["batch_size"], inputs["search_steps"], budget)
    if node_type == "NoiseSearchZeroOrderSearch":
        return ZeroOrderSearch(inputs["num_neighbours"], inputs["iterations"], inputs["lambda"], inputs["batch_size"],
                               inputs["search_steps"], budget)
    if node_type == "NoiseSearchFKSteering":
        return FKSteering(inputs["num_particles"], inputs["potential"], inputs["lambda"], inputs["start_step"],
                          inputs["interval"], inputs["ess_threshold"], inputs["renoise_steps"], inputs["batch_size"], budget)
    if node_type == "NoiseSearchPrunedRandomSearch":
        return PrunedRandomSearch(inputs["num_candidates"], parse_checkpoints(inputs["checkpoints"]), inputs["keep_fraction"],
                                  inputs["batch_size"], inputs["search_steps"], budget)
    return PathsSearch(inputs["num_paths"], inputs["branches"], inputs["start_step"], inputs["forward_steps"],
                       inputs["backward_steps"], inputs["batch_size"], budget)


def test_every_planned_sample_has_its_own_seed_far_from_every_other():
    plan = study_plan(seed_sets=5, digits=list(range(10)), samples=20)
    seeds = sorted(p.seed for p in plan)
    assert len(set(seeds)) == len(plan) == 1000
    # random search takes seed + i: the largest pool of any arm stays clear of the next sample's seed
    largest_pool = max(inputs["num_candidates"] for arm in ARMS for b in BUDGETS
                       if (inputs := arm.nodes(b)) and "num_candidates" in inputs)
    assert min(b - a for a, b in zip(seeds, seeds[1:])) > largest_pool


def test_the_same_sample_gets_the_same_seed_and_seed_sets_differ():
    assert SamplePlan(0, 3, 1).seed == SamplePlan(0, 3, 1).seed
    assert len({SamplePlan(k, 3, 1).seed for k in range(3)}) == 3


@pytest.mark.parametrize("arm", [arm for arm in ARMS if arm.node_type != "KSampler"], ids=lambda arm: arm.name)
def test_no_seed_is_shared_between_samples_or_repeated_within_an_arm(arm, make_denoiser, scorer):
    """Each search arm at its largest budget, run on the toy denoiser from the study's seeds, read back as the study reads it."""
    inputs = arm.nodes(BUDGETS[-1])
    search = algorithm(arm.node_type, inputs)
    samples = []
    for planned in study_plan(seed_sets=2, digits=[0, 1], samples=2):
        render = make_denoiser(steps=STEPS, shape=(1, 2, 2), rows_per_step=1) if search.search_steps else None
        denoiser = make_denoiser(steps=search.search_steps or STEPS, shape=(1, 2, 2), rows_per_step=1)
        result = run_search(search, denoiser, scorer, planned.seed, render_denoiser=render)
        samples.append(searched_sample(planned, result.best_latent, result.to_report(), (0.0, 0.0)))
    assert shared_seeds(samples) == {"between_samples": set(), "repeated_draws": set()}
    assert all(sample.first_seed == sample.plan.seed for sample in samples)  # every arm starts from the sample's seed
    assert sum(len(sample.own_draws) for sample in samples) == len({d for sample in samples for d in sample.own_draws})


def test_shared_seeds_finds_a_seed_two_samples_share_and_a_repeated_draw(make_denoiser, scorer):
    first, second = SamplePlan(0, 0, 0), SamplePlan(0, 0, 1)
    reports = []
    for base in (first.seed, first.seed + 2):  # pools [s, s+4) and [s+2, s+6) overlap, as the old study's did
        reports.append(run_search(RandomSearch(4), make_denoiser(rows_per_step=1), scorer, base).to_report())
    samples = [searched_sample(plan, None, report, (0.0, 0.0)) for plan, report in zip((first, second), reports)]
    shared = shared_seeds(samples)
    assert shared["between_samples"] == {first.seed + 2, first.seed + 3}
    assert shared["repeated_draws"] == {first.seed + 2, first.seed + 3}


def test_spread_is_mean_sample_std_min_and_max():
    assert spread([1.0, 2.0, 6.0]) == {"mean": 3.0, "std": pytest.approx(2.6457513), "min": 1.0, "max": 6.0,
                                       "per_set": [1.0, 2.0, 6.0]}
    assert spread([4.0])["std"] == 0.0
