"""Replays a search report into the winner's latent, without a verifier or a search."""

from __future__ import annotations

import json
from typing import Any

import torch

from comfy_api.latest import io

from ..search import replay
from .comfy_types import CATEGORY
from .node_errors import NodeInputError
from .search_runner import latent_like
from .search_sampler import ksampler_inputs, ksampler_setup

DISPLAY_NAME = "Replay Noise Search (Noise Search)"


def parse_report(report: str) -> dict[str, Any]:
    try:
        parsed = json.loads(report)
        parsed["best_recipe"], parsed["sampling"]["sigmas"]
    except (ValueError, KeyError, TypeError) as error:
        raise NodeInputError(
            f"{DISPLAY_NAME}: report is not a Noise Search report ({error}). Connect the report output of a "
            "Noise Search Sampler, or paste its text."
        ) from error
    return parsed


def check_same_schedule(report: dict[str, Any], sigmas: torch.Tensor) -> None:
    recorded = torch.tensor(report["sampling"]["sigmas"], dtype=torch.float64)
    if recorded.shape != sigmas.shape or not torch.allclose(recorded, sigmas.double().cpu(), rtol=1e-5, atol=1e-6):
        raise NodeInputError(
            f"{DISPLAY_NAME}: this node's steps/scheduler/denoise give a different schedule ({len(sigmas) - 1} steps) "
            f"from the search's ({len(recorded) - 1} steps). Use the search sampler's exact settings."
        )


class ReplaySearch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchReplay",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Re-makes the winner of a search from its report (random, zero-order or paths), with the "
            "same model and settings, spending only the winner's NFEs. Bit-for-bit when the search ran "
            "batch_size 1; otherwise equal up to float rounding.",
            inputs=[
                *ksampler_inputs(),
                io.String.Input("report", multiline=True, default="", tooltip="The report output of a search sampler."),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(
        cls, model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
        positive: Any, negative: Any, latent_image: dict[str, Any], denoise: float, report: str,
    ) -> io.NodeOutput:
        parsed = parse_report(report)
        setup = ksampler_setup(
            DISPLAY_NAME, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise
        )
        check_same_schedule(parsed, setup.sigmas)
        latent = replay(parsed["best_recipe"], setup.denoiser(setup.sigmas))
        return io.NodeOutput(latent_like(latent_image, latent))
