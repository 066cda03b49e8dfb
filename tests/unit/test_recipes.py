"""Recipes read back from a report: a damaged one is refused naming the field, before anything is sampled."""

from __future__ import annotations

import math

import pytest

from search import RecipeError, replay
from search.recipes import check_recipe, denoise_op, neighbour_op, noise_op, renoise_op

STEPS = 6
PATHS_RECIPE = [noise_op(3), denoise_op(2, 3), renoise_op(1, 8), denoise_op(3, 9), renoise_op(2, 10), denoise_op(6, 11)]
ZERO_ORDER_RECIPE = [noise_op(0), neighbour_op(5, 0.3), neighbour_op(2**63, 0.3), denoise_op(6, 2**64 - 1)]


@pytest.mark.parametrize("recipe", [PATHS_RECIPE, ZERO_ORDER_RECIPE, [noise_op(1), denoise_op(6, 1)]])
def test_every_kind_of_recipe_the_algorithms_make_passes(recipe):
    assert check_recipe(recipe, STEPS) is recipe


def with_op(position: int, **changes) -> list[dict]:
    recipe = [dict(op) for op in PATHS_RECIPE]
    recipe[position].update(changes)
    return recipe


@pytest.mark.parametrize("recipe, field, reason", [
    ({"op": "noise"}, "recipe", "a recipe is a non-empty list"),
    ([], "recipe", "a recipe is a non-empty list"),
    ([noise_op(1), "denoise"], "recipe[1]", "each operation is an object"),
    ([denoise_op(6, 1)], "recipe[0].op", "a recipe starts with one 'noise' operation"),
    ([noise_op(1), noise_op(2), denoise_op(6, 1)], "recipe[1].op", "a recipe starts with one 'noise' operation"),
    ([noise_op(1), denoise_op(3, 1), neighbour_op(2, 0.3), denoise_op(6, 1)], "recipe[2].op", "neighbours move the initial"),
    ([noise_op(1), neighbour_op(2, math.nan), denoise_op(6, 1)], "recipe[1].angle", "finite number of radians"),
    ([noise_op(1), neighbour_op(2, -math.inf), denoise_op(6, 1)], "recipe[1].angle", "finite number of radians"),
    ([noise_op(1), neighbour_op(2, "0.3"), denoise_op(6, 1)], "recipe[1].angle", "finite number of radians"),
    ([noise_op(1), {"op": "neighbour", "seed": 2}, denoise_op(6, 1)], "recipe[1].angle", "finite number of radians"),
    (with_op(0, seed=-1), "recipe[0].seed", "an integer from 0 to 2**64 - 1"),
    (with_op(0, seed=2**64), "recipe[0].seed", "an integer from 0 to 2**64 - 1"),
    (with_op(0, seed=3.0), "recipe[0].seed", "an integer from 0 to 2**64 - 1"),
    (with_op(0, seed=True), "recipe[0].seed", "an integer from 0 to 2**64 - 1"),
    (with_op(2, seed=math.inf), "recipe[2].seed", "an integer from 0 to 2**64 - 1"),
    (with_op(1, sampler_seed=None), "recipe[1].sampler_seed", "an integer from 0 to 2**64 - 1"),
    (with_op(1, stop=math.nan), "recipe[1].stop", "goes forward from step 0, so it is an integer from 1 to 6"),
    (with_op(5, stop=7), "recipe[5].stop", "goes forward from step 2, so it is an integer from 3 to 6"),
    (with_op(3, stop=1), "recipe[3].stop", "goes forward from step 1, so it is an integer from 2 to 6"),
    (with_op(2, to=2), "recipe[2].to", "goes back from step 2 to step 1 or later, so it is an integer from 1 to 1"),
    (with_op(2, to=0), "recipe[2].to", "goes back from step 2 to step 1 or later, so it is an integer from 1 to 1"),
    ([noise_op(1), denoise_op(1, 1), renoise_op(0, 2), denoise_op(6, 1)], "recipe[2].op",
     "is 'renoise' at step 1: a re-noise goes back to step 1 or later"),
    ([noise_op(1), denoise_op(6, 1), denoise_op(6, 1)], "recipe[2].op", "is 'denoise' at step 6, the last"),
    (with_op(4, op="resample"), "recipe[4].op", "operations are 'noise', 'neighbour', 'denoise' and 'renoise'"),
    (PATHS_RECIPE[:4], "recipe", "stops at step 3 of 6: it was made for another schedule"),
])
def test_a_malformed_recipe_is_refused_naming_the_field(recipe, field, reason):
    with pytest.raises(RecipeError) as error:
        check_recipe(recipe, STEPS)
    assert error.value.field == field and str(error.value).startswith(f"{field} ")
    assert reason in str(error.value)


def test_the_field_names_start_with_the_name_given():
    with pytest.raises(RecipeError, match=r"^best_recipe\[1\]\.angle is nan"):
        check_recipe([noise_op(1), neighbour_op(2, math.nan), denoise_op(6, 1)], STEPS, name="best_recipe")


def test_replay_refuses_before_sampling(denoiser):
    with pytest.raises(RecipeError, match=r"recipe\[1\]\.angle"):
        replay([noise_op(1), neighbour_op(2, math.nan), denoise_op(denoiser.steps, 1)], denoiser)
    assert denoiser.calls == [] and denoiser.nfes == 0
