"""The miniature study on the real demo model, in ComfyUI's executor, at a tiny size: its seeds and its costs."""

from __future__ import annotations

import pytest
import torch

from bench.digits_study import ARMS, METRICS, run_study, shared_seeds


@pytest.fixture(scope="module")
def study(comfyui):
    from headless.workflow_runner import new_executor

    executor = new_executor()
    return run_study(digits=[0, 7], samples=2, seed_sets=2, budgets=(20, 80), executor=executor)


def test_every_arm_ran_and_no_two_samples_share_a_seed(study):
    for arm in ARMS:
        samples = study.samples[(arm.name, 80)]
        assert len(samples) == 2 * 2 * 2
        assert shared_seeds(samples) == {"between_samples": set(), "repeated_draws": set()}, arm.name
        assert all(sample.first_seed == sample.plan.seed for sample in samples), arm.name


def test_more_steps_at_20_nfes_and_random_search_with_one_candidate_are_the_same_images(study):
    plain, searched = study.samples[("steps", 20)], study.samples[("random", 20)]
    assert [s.plan for s in plain] == [s.plan for s in searched]
    for one, other in zip(plain, searched):
        assert torch.equal(one.latent, other.latent)
    rows = {arm: study.results["arms"][arm]["rows"][0] for arm in ("steps", "random")}
    assert rows["steps"]["metrics"]["verifier_score"] == rows["random"]["metrics"]["verifier_score"]
    # zero-order search's first pivot (sampled alone, as the one candidate at 20 NFEs) is that image too
    for zero_order, random in zip(study.samples[("zero_order", 80)], study.samples[("random", 20)]):
        assert zero_order.first_score == random.first_score


def test_the_rows_count_nfes_verifier_images_calls_and_seconds(study):
    rows = {name: arm["rows"][-1] for name, arm in study.results["arms"].items()}
    assert rows["steps"]["verifier_images_per_sample"] == 0 and rows["steps"]["mean_nfes"] == 80
    assert rows["random"]["verifier_images_per_sample"] == 4 and rows["random"]["verifier_calls_per_sample"] == 1
    paths = rows["paths"]["inputs"]
    assert rows["paths"]["verifier_images_per_sample"] == paths["num_paths"] * paths["branches"] * 5  # 5 rounds
    for name, row in rows.items():
        assert row["mean_nfes"] <= 80 and row["seconds_per_sample"] > 0, name
        for key in METRICS:
            assert len(row["metrics"][key]["per_set"]) == 2, (name, key)
    assert set(study.results["real_digits"]) == set(METRICS)


def test_the_plots_and_the_sample_sheet_are_drawn_from_the_results(study, tmp_path):
    from PIL import Image

    from bench.digits_study import plot, save_samples

    results = {**study.results, "settings": {"seed_sets": 2, "samples_per_digit": 2}}
    plot(results, tmp_path / "study.png")
    save_samples(study.images, {name: arm["label"] for name, arm in results["arms"].items()}, 2, 2, tmp_path / "samples.png")
    assert Image.open(tmp_path / "study.png").size[0] > 800
    sheet = Image.open(tmp_path / "samples.png")
    assert sheet.size == (330 + 2 * 16 * 4, (len(study.results["arms"]) + 1) * (16 * 4 + 6))  # a row per arm + real digits


def test_a_checkpointed_study_resumes_without_running_the_rows_it_finished(comfyui, tmp_path):
    from headless.workflow_runner import new_executor

    executor = new_executor()
    arms, checkpoint = ARMS[:2], tmp_path / "rows"
    first = run_study(digits=[3, 5], samples=2, seed_sets=1, budgets=(20,), executor=executor, arms=arms, checkpoint=checkpoint)
    again = run_study(digits=[3, 5], samples=2, seed_sets=1, budgets=(20, 40), executor=executor, arms=arms,
                      checkpoint=checkpoint)
    assert set(again.samples) == {("steps", 40), ("random", 40)}  # only the new budget ran
    for arm in ("steps", "random"):
        assert again.results["arms"][arm]["rows"][0] == first.results["arms"][arm]["rows"][0]
        assert [row["budget"] for row in again.results["arms"][arm]["rows"]] == [20, 40]
    with pytest.raises(ValueError, match="use another --checkpoint"):
        run_study(digits=[3, 5], samples=1, seed_sets=1, budgets=(20,), executor=executor, arms=arms, checkpoint=checkpoint)
