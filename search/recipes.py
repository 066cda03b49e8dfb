"""Recipes: how each candidate was made, as a list of JSON-able operations that replay it exactly.

Operations, run in order on one state:
- ``{"op": "noise", "seed": s}``: the initial noise made from ``s``;
- ``{"op": "neighbour", "seed": s, "angle": a}``: the neighbour at ``a`` radians of the current noise,
  towards the Gaussian direction made from ``s`` (zero-order search);
- ``{"op": "denoise", "stop": j, "sampler_seed": q}``: sample from the current schedule index to ``j``;
- ``{"op": "renoise", "to": i, "seed": r}``: re-noise back to schedule index ``i`` with noise from ``r``.

A recipe read back from a report is checked by :func:`check_recipe` before anything runs: a damaged or
edited one is refused naming the field, never replayed into something else.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from .noise import sphere_neighbour
from .protocols import Denoiser

Recipe = list[dict[str, Any]]

NOISE_OPS = ("noise", "neighbour")
SEED_LIMIT = 2**64
"""Seeds are what ``torch.manual_seed`` takes from KSampler's seed widget: 0 to 2**64 - 1."""


class RecipeError(ValueError):
    """A recipe that cannot be replayed as it was made; ``field`` names the part at fault (``recipe[2].angle``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


def noise_op(seed: int) -> dict[str, Any]:
    return {"op": "noise", "seed": seed}


def neighbour_op(seed: int, angle: float) -> dict[str, Any]:
    return {"op": "neighbour", "seed": seed, "angle": angle}


def denoise_op(stop: int, sampler_seed: int) -> dict[str, Any]:
    return {"op": "denoise", "stop": stop, "sampler_seed": sampler_seed}


def renoise_op(to: int, seed: int) -> dict[str, Any]:
    return {"op": "renoise", "to": to, "seed": seed}


def check_recipe(recipe: Any, steps: int, name: str = "recipe") -> Recipe:
    """``recipe`` itself when it replays over a schedule of ``steps`` steps; otherwise a :class:`RecipeError`.

    It must start with one noise, then neighbours, then denoise segments that move forward through the
    schedule, with re-noises back to earlier steps between them (never to step 0, pure noise, where a
    flow model's re-noising is infinite), and end at the last step. Every seed is an integer in
    KSampler's range and every angle a finite number. ``name`` starts the field names.
    """
    if not isinstance(recipe, list) or not recipe:
        raise RecipeError(name, f"is {recipe!r}: a recipe is a non-empty list of operations")
    index = 0
    for position, op in enumerate(recipe):
        field = f"{name}[{position}]"
        if not isinstance(op, dict):
            raise RecipeError(field, f"is {op!r}: each operation is an object with an 'op' key")
        kind = op.get("op")
        if (kind == "noise") != (position == 0):
            raise RecipeError(f"{field}.op", f"is {kind!r}: a recipe starts with one 'noise' operation, and only there")
        if kind == "noise":
            _check_seed(op, "seed", field)
        elif kind == "neighbour":
            if recipe[position - 1]["op"] not in NOISE_OPS:
                raise RecipeError(f"{field}.op", "is 'neighbour' after sampling started: neighbours move the initial noise")
            _check_seed(op, "seed", field)
            angle = op.get("angle")
            if isinstance(angle, bool) or not isinstance(angle, (int, float)) or not math.isfinite(angle):
                raise RecipeError(f"{field}.angle", f"is {angle!r}: an angle is a finite number of radians")
        elif kind == "denoise":
            if index == steps:
                raise RecipeError(f"{field}.op", f"is 'denoise' at step {steps}, the last: nothing is left to sample")
            _check_seed(op, "sampler_seed", field)
            index = _check_step(op, "stop", field, index + 1, steps, f"a denoise segment goes forward from step {index}")
        elif kind == "renoise":
            if index < 2:
                raise RecipeError(f"{field}.op", f"is 'renoise' at step {index}: a re-noise goes back to step 1 or later")
            _check_seed(op, "seed", field)
            index = _check_step(op, "to", field, 1, index - 1, f"a re-noise goes back from step {index} to step 1 or later")
        else:
            raise RecipeError(f"{field}.op", f"is {kind!r}: operations are 'noise', 'neighbour', 'denoise' and 'renoise'")
    if index != steps:
        raise RecipeError(name, f"stops at step {index} of {steps}: it was made for another schedule")
    return recipe


def _check_seed(op: dict[str, Any], key: str, field: str) -> None:
    seed = op.get(key)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise RecipeError(f"{field}.{key}", f"is {seed!r}: a seed is an integer from 0 to 2**64 - 1")


def _check_step(op: dict[str, Any], key: str, field: str, low: int, high: int, rule: str) -> int:
    step = op.get(key)
    if isinstance(step, bool) or not isinstance(step, int) or not low <= step <= high:
        raise RecipeError(f"{field}.{key}", f"is {step!r}: {rule}, so it is an integer from {low} to {high}")
    return step


def initial_noise_of(recipe: Sequence[dict[str, Any]], denoiser: Denoiser) -> torch.Tensor:
    """The initial noise a recipe starts from: its leading noise and neighbour operations, no NFEs spent."""
    noise = denoiser.initial_noise(recipe[0]["seed"])
    for op in recipe[1:]:
        if op["op"] != "neighbour":
            break
        noise = sphere_neighbour(noise, op["angle"], denoiser.initial_noise(op["seed"]))
    return noise


def replay(recipe: Recipe, denoiser: Denoiser) -> torch.Tensor:
    """Re-make a candidate's final latent from its recipe (running to the end of the schedule).

    Raises :class:`RecipeError` for a recipe :func:`check_recipe` refuses, before any sampling.
    """
    check_recipe(recipe, denoiser.steps)
    noise = initial_noise_of(recipe, denoiser)
    state, index = noise, 0
    for op in recipe:
        if op["op"] in NOISE_OPS:
            continue
        if op["op"] == "denoise":
            state = denoiser.denoise(state, [op["sampler_seed"]], start=index, stop=op["stop"], initial_noises=noise).states
            index = op["stop"]
        else:
            state = denoiser.renoise(state, index, op["to"], denoiser.initial_noise(op["seed"]), noise)
            index = op["to"]
    return state


def render_recipe(recipe: Sequence[dict[str, Any]], sampler_seed: int, steps: int) -> Recipe:
    """The recipe that renders a candidate's initial noise over a whole schedule of ``steps`` steps."""
    return [op for op in recipe if op["op"] in NOISE_OPS] + [denoise_op(steps, sampler_seed)]
