"""Replays a search report into the winner's latent, without a verifier or a search."""

from __future__ import annotations

import json
from typing import Any

import torch

from comfy_api.latest import io

from ..search import replay
from .advanced_search_sampler import advanced_setup
from .comfy_types import CATEGORY
from .node_errors import NodeInputError
from .search_runner import SamplingSetup, latent_like
from .search_sampler import ksampler_inputs, ksampler_setup

DISPLAY_NAME = "Replay Noise Search (Noise Search)"
ADVANCED_DISPLAY_NAME = "Replay Noise Search (Advanced)"
REPORT_INPUT_TOOLTIP = "The report output of a search sampler."
DESCRIPTION = (
    "Re-makes the winner of a search from its report (random, zero-order or paths), with the same model and "
    "settings, spending only the winner's NFEs. Bit-for-bit on the CPU when the search ran batch_size 1; "
    "otherwise equal up to float rounding."
)


def replay_report(node_name: str, report: str, setup: SamplingSetup, latent_image: dict[str, Any]) -> io.NodeOutput:
    parsed = parse_report(node_name, report)
    check_same_schedule(node_name, parsed, setup.sigmas)
    return io.NodeOutput(latent_like(latent_image, replay(parsed["best_recipe"], setup.denoiser(setup.sigmas))))


def parse_report(node_name: str, report: str) -> dict[str, Any]:
    try:
        parsed = json.loads(report)
        parsed["best_recipe"], parsed["sampling"]["sigmas"]
    except (ValueError, KeyError, TypeError) as error:
        raise NodeInputError(
            f"{node_name}: report is not a Noise Search report ({error}). Connect the report output of a "
            "Noise Search Sampler, or paste its text."
        ) from error
    return parsed


def check_same_schedule(node_name: str, report: dict[str, Any], sigmas: torch.Tensor) -> None:
    recorded = torch.tensor(report["sampling"]["sigmas"], dtype=torch.float64)
    if recorded.shape != sigmas.shape or not torch.allclose(recorded, sigmas.double().cpu(), rtol=1e-5, atol=1e-6):
        raise NodeInputError(
            f"{node_name}: this node's settings give a different schedule ({len(sigmas) - 1} steps) from the "
            f"search's ({len(recorded) - 1} steps). Use the search sampler's exact settings."
        )


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
