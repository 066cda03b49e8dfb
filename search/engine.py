"""One entry point for every algorithm: search, then render the winner at the full step count."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .recipes import initial_noise_of, render_recipe
from .result import SearchResult
from .tracking import score_render


class Algorithm(Protocol):
    name: str
    search_steps: int
    """Steps per candidate while searching; 0 searches at the full step count."""

    def parameters(self) -> dict: ...

    def run(self, denoiser: Denoiser, scorer: Scorer, base_seed: int, monitor: SearchMonitor | None = None) -> SearchResult: ...


def first_sampler_seed(recipe: list[dict]) -> int:
    return next(op["sampler_seed"] for op in recipe if op["op"] == "denoise")


def run_search(
    algorithm: Algorithm,
    search_denoiser: Denoiser,
    scorer: Scorer,
    base_seed: int,
    monitor: SearchMonitor | None = None,
    render_denoiser: Denoiser | None = None,
) -> SearchResult:
    """Run ``algorithm``; when it searched at fewer steps, render the winner's noise with ``render_denoiser``.

    A rendered winner is scored again (one scorer call), so the result holds both the score the search
    chose it by and its final image's (``render_score``).

    The result also records what one plain image costs at the final step count, so the search's
    cost reads as a multiple of it.
    """
    monitor = monitor or NullMonitor()
    result = algorithm.run(search_denoiser, scorer, base_seed, monitor)
    final_denoiser = render_denoiser or search_denoiser
    plain_image_nfes = final_denoiser.dry_run_nfes(0, final_denoiser.steps)
    if render_denoiser is None:
        return replace(result, plain_image_nfes=plain_image_nfes)
    monitor.check_cancelled()
    recipe = render_recipe(result.best.recipe, first_sampler_seed(result.best.recipe), render_denoiser.steps)
    before = render_denoiser.nfes
    rendered = render_denoiser.denoise(initial_noise_of(recipe, render_denoiser), [recipe[-1]["sampler_seed"]])
    render_nfes = render_denoiser.nfes - before
    monitor.check_cancelled()
    verifier_seconds_before = float(getattr(scorer, "verifier_seconds", 0.0))
    render_score = score_render(scorer, result, rendered.states, rendered.probe)
    return replace(
        result, best_latent=rendered.states, best_recipe=recipe, render_nfes=render_nfes, plain_image_nfes=plain_image_nfes,
        render_score=render_score,
        verifier_seconds=result.verifier_seconds + float(getattr(scorer, "verifier_seconds", 0.0)) - verifier_seconds_before,
    )
