"""Replays a search report into the winner's latent, without a verifier or a search."""

from __future__ import annotations

from typing import Any

import torch

from comfy_api.latest import io

from ..search import replay
from .advanced_search_sampler import advanced_setup
from .comfy_types import CATEGORY
from .replay_checks import check_same_sampling, checked_recipe, parse_report
from .search_runner import SamplingSetup, latent_like
from .search_sampler import ksampler_inputs, ksampler_setup

DISPLAY_NAME = "Replay Noise Search"
ADVANCED_DISPLAY_NAME = "Replay Noise Search (Advanced)"
REPORT_INPUT_TOOLTIP = "The report output of a search sampler."
DESCRIPTION = (
    "Re-makes the winner of a search from its report (any algorithm of this pack), with the same model and "
    "settings, spending only the winner's NFEs. It checks the report against its inputs (latent, model sampling, "
    "sampler, scheduler, steps, cfg, denoise, guider, prompts, sigmas) and refuses any difference, naming it. "
    "Bit-for-bit on the CPU when the search ran batch_size 1; otherwise equal up to float rounding."
)


def replay_report(node_name: str, report: str, setup: SamplingSetup, latent_image: dict[str, Any]) -> io.NodeOutput:
    parsed = parse_report(node_name, report)
    check_same_sampling(node_name, parsed["sampling"], setup.describe())
    recipe = checked_recipe(node_name, parsed["best_recipe"], len(setup.sigmas) - 1)
    return io.NodeOutput(latent_like(latent_image, replay(recipe, setup.denoiser(setup.sigmas))))


class ReplaySearch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchReplay",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description=DESCRIPTION,
            inputs=[
                *ksampler_inputs(),
                io.String.Input("report", multiline=True, default="", tooltip=REPORT_INPUT_TOOLTIP),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(
        cls, model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
        positive: Any, negative: Any, latent_image: dict[str, Any], denoise: float, report: str,
    ) -> io.NodeOutput:
        setup = ksampler_setup(
            DISPLAY_NAME, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise
        )
        return replay_report(DISPLAY_NAME, report, setup, latent_image)


class ReplaySearchAdvanced(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchReplayAdvanced",
            display_name=ADVANCED_DISPLAY_NAME,
            category=CATEGORY,
            description=DESCRIPTION,
            inputs=[
                io.Guider.Input("guider"),
                io.Sampler.Input("sampler"),
                io.Sigmas.Input("sigmas"),
                io.Latent.Input("latent_image"),
                io.String.Input("report", multiline=True, default="", tooltip=REPORT_INPUT_TOOLTIP),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, guider: Any, sampler: Any, sigmas: torch.Tensor, latent_image: dict[str, Any],
                report: str) -> io.NodeOutput:
        setup = advanced_setup(ADVANCED_DISPLAY_NAME, guider, sampler, sigmas, latent_image, base_seed=0)
        return replay_report(ADVANCED_DISPLAY_NAME, report, setup, latent_image)
