"""Recipes: how each candidate was made, as a list of JSON-able operations that replay it exactly.

Operations, run in order on one state:
- ``{"op": "noise", "seed": s}``: the initial noise made from ``s``;
- ``{"op": "neighbour", "seed": s, "angle": a}``: the neighbour at ``a`` radians of the current noise,
  towards the Gaussian direction made from ``s`` (zero-order search);
- ``{"op": "denoise", "stop": j, "sampler_seed": q}``: sample from the current schedule index to ``j``;
- ``{"op": "renoise", "to": i, "seed": r}``: re-noise back to schedule index ``i`` with noise from ``r``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .noise import sphere_neighbour
from .protocols import Denoiser

Recipe = list[dict[str, Any]]

NOISE_OPS = ("noise", "neighbour")


def noise_op(seed: int) -> dict[str, Any]:
    return {"op": "noise", "seed": seed}


def neighbour_op(seed: int, angle: float) -> dict[str, Any]:
    return {"op": "neighbour", "seed": seed, "angle": angle}


def denoise_op(stop: int, sampler_seed: int) -> dict[str, Any]:
    return {"op": "denoise", "stop": stop, "sampler_seed": sampler_seed}


def renoise_op(to: int, seed: int) -> dict[str, Any]:
    return {"op": "renoise", "to": to, "seed": seed}


def initial_noise_of(recipe: Sequence[dict[str, Any]], denoiser: Denoiser) -> torch.Tensor:
    """The initial noise a recipe starts from: its leading noise/neighbour operations, no NFEs spent."""
    noise: torch.Tensor | None = None
    for op in recipe:
        if op["op"] == "noise":
            noise = denoiser.initial_noise(op["seed"])
        elif op["op"] == "neighbour":
            if noise is None:
                raise ValueError("a neighbour operation needs a noise before it")
            noise = sphere_neighbour(noise, op["angle"], denoiser.initial_noise(op["seed"]))
        else:
            break
    if noise is None:
        raise ValueError("a recipe starts with a noise operation")
    return noise


def replay(recipe: Sequence[dict[str, Any]], denoiser: Denoiser) -> torch.Tensor:
    """Re-make a candidate's final latent from its recipe (running to the end of the schedule)."""
    state = initial_noise_of(recipe, denoiser)
    index = 0
    for op in recipe:
        if op["op"] in NOISE_OPS:
            continue
        if op["op"] == "denoise":
            state = denoiser.denoise(state, [op["sampler_seed"]], start=index, stop=op["stop"]).states
            index = op["stop"]
        elif op["op"] == "renoise":
            state = denoiser.renoise(state, index, op["to"], denoiser.initial_noise(op["seed"]))
            index = op["to"]
        else:
            raise ValueError(f"unknown recipe operation {op['op']!r}")
    if index != denoiser.steps:
        raise ValueError(f"the recipe stops at step {index} of {denoiser.steps}: it was made for another schedule")
    return state


def render_recipe(recipe: Sequence[dict[str, Any]], sampler_seed: int, steps: int) -> Recipe:
    """The recipe that renders a candidate's initial noise over a whole schedule of ``steps`` steps."""
    return [op for op in recipe if op["op"] in NOISE_OPS] + [denoise_op(steps, sampler_seed)]
