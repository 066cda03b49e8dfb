"""FK steering on the toy diffusion: potentials, ESS, systematic resampling, NFEs, ancestry, budgets, replay."""

from __future__ import annotations

import math
from typing import Sequence

import pytest
import torch

from search import Denoised, FKSteering, NFEBudget, SearchConfigError, replay
from search.fk_steering import Lineage, effective_sample_size, log_potential, systematic_resample
from tests.unit.conftest import MeanScorer, ToyDenoiser


class AncestralToyDenoiser(ToyDenoiser):
    """The toy ODE plus fresh noise after every step, drawn from each row's own sampler seed (an ancestral sampler)."""

    stochastic = True

    def denoise(self, states: torch.Tensor, sampler_seeds: Sequence[int], start: int = 0, stop: int | None = None,
                initial_noises: torch.Tensor | None = None):
        stop = self.steps if stop is None else stop
        self.initial_noises_of(states, start, initial_noises)
        rows = []
        for row, seed in enumerate(sampler_seeds):
            generator = torch.Generator().manual_seed(seed)
            x, x0 = states[row : row + 1] * self.sigmas[0] if start == 0 else states[row : row + 1].clone(), None
            for i in range(start, stop):
                sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
                x0 = self.network(x, sigma)
                self._nfes += self.rows_per_step
                x = x + (x - x0) / sigma * (sigma_next - sigma)
                x = x + 0.3 * sigma_next * torch.randn(x.shape, generator=generator)
            rows.append((x, x0))
        self.calls.append((list(sampler_seeds), start, stop))
        return Denoised(states=torch.cat([x for x, _ in rows]), x0=torch.cat([x0 for _, x0 in rows]))


DENOISERS = {"ode": ToyDenoiser, "ancestral": AncestralToyDenoiser}


def lineage(last, largest, total) -> Lineage:
    return Lineage(*(torch.tensor(values, dtype=torch.float64) for values in (last, largest, total)))


def test_the_potentials_are_the_papers_max_difference_and_sum():
    before = lineage([1.0, 2.0], [3.0, 2.0], [4.0, 2.0])
    rewards = torch.tensor([2.5, 0.5], dtype=torch.float64)
    assert log_potential("max", 2.0, before, rewards).tolist() == [6.0, 4.0]
    assert log_potential("difference", 2.0, before, rewards).tolist() == [3.0, -3.0]
    assert log_potential("sum", 2.0, before, rewards).tolist() == [13.0, 5.0]
    first = Lineage.start(2)
    assert log_potential("max", 1.0, first, rewards).tolist() == [2.5, 0.5]  # any scale, negative ones too
    assert log_potential("difference", 1.0, first, rewards).tolist() == [2.5, 0.5]
    after = before.then(rewards)
    assert after.last.tolist() == [2.5, 0.5] and after.largest.tolist() == [3.0, 2.0] and after.total.tolist() == [6.5, 2.5]
    assert after.take(torch.tensor([1, 1])).total.tolist() == [2.5, 2.5]


def test_the_effective_sample_size_runs_from_k_to_one():
    assert effective_sample_size(torch.zeros(8)) == pytest.approx(8.0)
    assert effective_sample_size(torch.tensor([0.0, -1000.0, -1000.0])) == pytest.approx(1.0)
    assert effective_sample_size(torch.tensor([0.0, 0.0, -1000.0, -1000.0])) == pytest.approx(2.0)
    assert effective_sample_size(torch.tensor([1e6, 1e6 - math.log(3)], dtype=torch.float64)) == pytest.approx(1 / (0.75**2 + 0.25**2))


def test_systematic_resampling_draws_each_particle_floor_or_ceil_of_k_times_its_weight():
    weights = torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64)
    assert systematic_resample(weights, 0.0).tolist() == [0, 0, 1, 2]
    assert systematic_resample(weights, 0.99).tolist() == [0, 0, 1, 3]
    assert systematic_resample(torch.tensor([0.0, 1.0, 0.0]), 0.5).tolist() == [1, 1, 1]
    assert systematic_resample(torch.full((5,), 0.2), 0.3).tolist() == [0, 1, 2, 3, 4]
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        weights = torch.rand(7, generator=generator, dtype=torch.float64) ** 3
        offset = float(torch.rand((), generator=generator))
        counts = torch.bincount(systematic_resample(weights, offset), minlength=7)
        expected = 7 * weights / weights.sum()
        assert int(counts.sum()) == 7
        assert torch.all(counts >= expected.floor() - 1e-9) and torch.all(counts <= expected.ceil() + 1e-9)


@pytest.mark.parametrize("kind", sorted(DENOISERS))
def test_nfes_are_counted_exactly_and_match_the_plan(kind, scorer):
    denoiser = DENOISERS[kind]()
    planned = []

    class Monitor:
        def check_cancelled(self):
            return None

        def planned(self, total):
            planned.append(total)

        def candidates_scored(self, done, total, best, nfes):
            return None

    search = FKSteering(num_particles=3, start_step=2, interval=2, renoise_steps=1, batch_size=2)
    result = search.run(denoiser, scorer, base_seed=5, monitor=Monitor())
    back = 0 if kind == "ancestral" else 1
    # segments 0->2, then 2->4 and 4->6, each after the first re-noised `back` steps; 2 NFEs a step (CFG)
    expected = 3 * 2 * (2 + (2 + back) + (2 + back))
    assert result.search_nfes == denoiser.nfes == planned[0] == expected
    assert sum(c.nfes for c in result.candidates) == expected
    assert result.parameters["transition"] == ("sampler noise" if kind == "ancestral" else "re-noise 1 steps back")
    assert scorer.rows == 3 * 3  # every particle scored at steps 2 and 4 and at the end


@pytest.mark.parametrize("kind", sorted(DENOISERS))
def test_ancestry_is_recorded_and_every_final_particle_replays(kind, scorer):
    denoiser = DENOISERS[kind]()
    search = FKSteering(num_particles=4, lam=5.0, start_step=2, interval=1, ess_threshold=1.0, batch_size=3)
    result = search.run(denoiser, scorer, base_seed=11)
    by_index = {c.index: c for c in result.candidates}
    rounds = search.resampling_steps(denoiser.steps)
    assert [step["step"] for step in result.resampling] == rounds
    assert any(step["resampled"] for step in result.resampling)
    for step in result.resampling:
        in_round = [c for c in result.candidates if c.round == step["round"]]
        assert len(in_round) == 4 and not any(c.final for c in in_round)
        assert {c.index for c in in_round if c.kept} == {in_round[a].index for a in step["ancestors"]}
        following = [c for c in result.candidates if c.round == step["round"] + 1]
        assert [c.parent for c in following] == [in_round[a].index for a in step["ancestors"]]
    finals = [c for c in result.candidates if c.final]
    assert len(finals) == 4 and result.best in finals
    for final in finals:
        chain = final
        while chain.parent is not None:
            parent = by_index[chain.parent]
            assert chain.recipe[: len(parent.recipe)] == parent.recipe and parent.round == chain.round - 1
            chain = parent
        assert chain.round == 1 and chain.recipe[0]["op"] == "noise"
    fresh = DENOISERS[kind]()
    assert torch.equal(replay(result.best.recipe, fresh), result.best.latent)
    for final in finals:
        assert torch.equal(replay(final.recipe, fresh), result.ranked_latents()[result.ranked.index(final)][None])


def test_the_first_segment_is_random_searchs_candidates(scorer):
    denoiser = ToyDenoiser()
    FKSteering(num_particles=3, start_step=2, batch_size=3).run(denoiser, scorer, base_seed=40)
    assert denoiser.calls[0] == ([40, 41, 42], 0, 2)


def test_a_large_lambda_copies_the_best_particle_and_the_transition_parts_the_copies(scorer):
    for kind, make in DENOISERS.items():
        search = FKSteering(num_particles=4, lam=1e6, start_step=3, interval=10, ess_threshold=0.5)
        result = search.run(make(), scorer, base_seed=2)
        (step,) = result.resampling
        first = [c for c in result.candidates if c.round == 1]
        best = max(range(4), key=lambda p: first[p].score)
        assert step["resampled"] and step["ancestors"] == [best] * 4, kind
        finals = torch.cat([replay(c.recipe, make()) for c in result.candidates if c.final])
        assert len({tuple(row.flatten().tolist()) for row in finals}) == 4, kind  # the copies parted ways


def test_even_weights_do_not_resample(scorer):
    class ConstantScorer(MeanScorer):
        def score(self, latents, probes=None):
            return torch.ones(latents.shape[0])

    result = FKSteering(num_particles=3, start_step=2, interval=2, ess_threshold=0.99).run(
        ToyDenoiser(), ConstantScorer(), base_seed=0
    )
    assert all(not step["resampled"] and step["ancestors"] == [0, 1, 2] for step in result.resampling)
    assert all(step["ess"] == pytest.approx(3.0) for step in result.resampling)


def test_batch_size_does_not_change_the_particles(scorer):
    results = [FKSteering(num_particles=5, start_step=2, interval=2, batch_size=size).run(ToyDenoiser(), scorer, 3)
               for size in (1, 2, 5)]
    for result in results[1:]:
        assert [c.recipe for c in result.candidates] == [c.recipe for c in results[0].candidates]
        assert [c.score for c in result.candidates] == pytest.approx([c.score for c in results[0].candidates])


def test_a_budget_lowers_the_particles_to_what_fits(scorer):
    full = FKSteering(num_particles=4, start_step=2, interval=2).run(ToyDenoiser(), scorer, 0).search_nfes
    per_particle = full // 4
    denoiser = ToyDenoiser()
    result = FKSteering(num_particles=4, start_step=2, interval=2, budget=NFEBudget(3 * per_particle + 5)).run(
        denoiser, scorer, 0
    )
    assert result.parameters["particles_run"] == 3
    assert result.search_nfes == denoiser.nfes == 3 * per_particle
    assert all(len(step["ancestors"]) == 3 for step in result.resampling)


def test_a_budget_below_two_particles_is_refused_before_sampling(scorer):
    denoiser = ToyDenoiser()
    with pytest.raises(SearchConfigError, match="max_nfes: is 30, but the smallest run \\(2 particles\\) costs 32 NFEs"):
        FKSteering(num_particles=4, start_step=2, interval=2, budget=NFEBudget(30)).run(denoiser, scorer, 0)
    assert denoiser.nfes == 0


@pytest.mark.parametrize("kwargs, parameter", [
    ({"num_particles": 1}, "num_particles"), ({"interval": 0}, "interval"), ({"start_step": 0}, "start_step"),
    ({"renoise_steps": 0}, "renoise_steps"), ({"ess_threshold": 0.0}, "ess_threshold"),
    ({"ess_threshold": 1.5}, "ess_threshold"), ({"lam": 0.0}, "lambda"), ({"lam": math.nan}, "lambda"),
    ({"potential": "product"}, "potential"), ({"batch_size": 0}, "batch_size"),
])
def test_bad_parameters_are_refused_naming_them(kwargs, parameter):
    with pytest.raises(SearchConfigError, match=f"^{parameter}: "):
        FKSteering(**kwargs)


@pytest.mark.parametrize("kind, start_step, message", [
    ("ode", 6, "start_step: is 6, outside the schedule of 6 steps.*so use 2 to 5"),
    ("ode", 1, "start_step: is 1, .*re-noised renoise_steps \\(1\\) back.*so use 2 to 5"),
    ("ancestral", 6, "start_step: is 6, outside the schedule of 6 steps.*so use 1 to 5"),
])
def test_a_resampling_step_outside_the_schedule_is_refused_with_the_range(kind, start_step, message, scorer):
    denoiser = DENOISERS[kind]()
    with pytest.raises(SearchConfigError, match=message):
        FKSteering(start_step=start_step).run(denoiser, scorer, base_seed=0)
    assert denoiser.nfes == 0


def test_the_ancestral_sampler_may_resample_after_the_first_step(scorer):
    result = FKSteering(num_particles=2, start_step=1, interval=4).run(AncestralToyDenoiser(), scorer, 0)
    assert [step["step"] for step in result.resampling] == [1, 5]


def test_a_scorer_that_cannot_score_previews_is_refused_naming_it(finished_samples_scorer):
    denoiser = ToyDenoiser()
    with pytest.raises(SearchConfigError, match="^verifier: the self-supervised verifier scores only finished samples"):
        FKSteering().run(denoiser, finished_samples_scorer, base_seed=0)
    assert denoiser.nfes == 0


def test_cancel_stops_the_search_between_sampler_calls(scorer):
    class CancelAtThirdCall:
        def __init__(self):
            self.calls = 0

        def check_cancelled(self):
            self.calls += 1
            if self.calls == 3:
                raise InterruptedError("cancelled")

        def planned(self, total):
            return None

        def candidates_scored(self, done, total, best, nfes):
            return None

    denoiser = ToyDenoiser()
    with pytest.raises(InterruptedError):
        FKSteering(num_particles=4, start_step=2, interval=2, batch_size=2).run(denoiser, scorer, 0, CancelAtThirdCall())
    assert len(denoiser.calls) == 2


def test_with_a_set_relative_ensemble_the_winner_is_the_best_final_particle_by_its_current_score():
    from verifiers.ensemble import combiner

    class TwoVerifierScorer:
        verifier_names = ("mean", "spread")
        combine = staticmethod(combiner("rank average", [1, 1]))

        def score(self, latents, probes=None):
            return torch.stack([latents.flatten(1).mean(dim=1), 1000 * latents.flatten(1).std(dim=1)], dim=1)

    result = FKSteering(num_particles=4, start_step=2, interval=2, batch_size=3).run(ToyDenoiser(), TwoVerifierScorer(), 1)
    finals = [c for c in result.candidates if c.final]
    assert result.best == max(finals, key=lambda c: (c.score, -c.index))
    assert torch.equal(replay(result.best.recipe, ToyDenoiser()), result.best_latent)
