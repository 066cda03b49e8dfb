"""The engine both search-sampler nodes share: ComfyUI sampling setup in, node outputs out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import torch

from comfy_api.latest import io

from ..search import Algorithm, SearchConfigError, SearchResult, run_search
from ..search.scaling_curve import plot_scaling_curve
from ..search.tracking import HELD_CANDIDATES
from .comfy_sampling import ComfyDenoiser, NFECounter
from .comfy_scoring import DecodeAndScore, ManagedVerifier
from .gallery import ThumbnailRecorder, gallery_ui
from .node_errors import NodeInputError, reported_as
from .progress import SearchProgress, node_status_sender
from .sampling_record import sampling_record


@dataclass
class SamplingSetup:
    """Everything a search samples with, whichever node built it.

    ``schedule_for(steps)`` gives the sigma schedule for a smaller step count (``search_steps``).
    ``settings`` are the KSampler-style node's sampling inputs, recorded for replays (``None`` for the
    advanced node, whose settings live in its guider, sampler and sigmas).
    """

    guider: Any
    counter: NFECounter
    sampler: Any
    sigmas: torch.Tensor
    schedule_for: Callable[[int], torch.Tensor]
    latent: dict[str, Any]
    samples: torch.Tensor
    base_seed: int
    settings: dict[str, Any] | None = None

    def denoiser(
        self, sigmas: torch.Tensor, on_step: Callable[[torch.Tensor], None] | None = None,
        probe_level: float | None = None,
    ) -> ComfyDenoiser:
        return ComfyDenoiser(
            self.guider, self.sampler, sigmas, self.samples, self.counter,
            noise_mask=self.latent.get("noise_mask"), batch_index=self.latent.get("batch_index"), on_step=on_step,
            probe_level=probe_level,
        )

    def describe(self) -> dict[str, Any]:
        """What a replay must match (see :func:`.sampling_record.sampling_record`)."""
        return sampling_record(self.guider, self.sampler, self.sigmas, self.samples, self.latent, self.settings)


def check_latent(node_name: str, latent: dict[str, Any]) -> torch.Tensor:
    samples = latent["samples"]
    if samples.is_nested or samples.ndim < 4:
        raise NodeInputError(f"{node_name}: latent_image has shape {tuple(samples.shape)}; expected [1, C, H, W].")
    if samples.shape[0] != 1:
        raise NodeInputError(
            f"{node_name}: latent_image holds a batch of {samples.shape[0]}; the search makes its own batch of "
            "candidates. Give it one latent (batch_size 1 on the Empty Latent Image node) and set the number "
            "of candidates on the algorithm node."
        )
    check_noise_mask(node_name, latent.get("noise_mask"), samples)
    return samples


MASK_FIX = ("Make the mask from the image you encoded (VAE Encode for Inpainting, or Set Latent Noise Mask with a mask of "
            "that image's size)")


def check_noise_mask(node_name: str, mask: Any, samples: torch.Tensor) -> None:
    """A noise mask fits the latent: one mask of its aspect ratio, values from 0 to 1, something to sample.

    ComfyUI stretches any mask to the latent and repeats a batch of masks over the batch it samples;
    the search batches its candidates itself, so a stretched mask or several masks would change what
    a candidate is with how it was batched, or sample a region the user did not draw.
    """
    if mask is None:
        return
    prefix = f"{node_name}: latent_image's noise_mask"
    if not isinstance(mask, torch.Tensor) or mask.ndim < 2:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise NodeInputError(f"{prefix} is {shape}; a mask is [height, width] or [batch, height, width]. {MASK_FIX}.")
    masks = mask.shape[0] if mask.ndim == samples.ndim else mask.numel() // (mask.shape[-2] * mask.shape[-1])
    if samples.ndim == 4 and masks != 1:
        raise NodeInputError(
            f"{prefix} holds {masks} masks (shape {tuple(mask.shape)}) for one latent; the search samples every candidate "
            "under the same mask. Give one mask (batch 1)."
        )
    mask_height, mask_width = mask.shape[-2:]
    height, width = samples.shape[-2:]
    if abs(mask_height * width / mask_width - height) > 1.0:
        raise NodeInputError(
            f"{prefix} is {mask_height}×{mask_width} (height × width) but latent_image is {height}×{width}: the mask "
            f"would be stretched to another shape and cover another region. {MASK_FIX}."
        )
    values = mask.detach().float()
    if not bool(torch.isfinite(values).all()) or float(values.min()) < 0.0 or float(values.max()) > 1.0:
        raise NodeInputError(f"{prefix} has values outside 0 to 1 (or NaN); a mask weighs each pixel from 0 (keep) to 1 "
                             f"(sample). {MASK_FIX}.")
    if float(values.max()) == 0.0:
        raise NodeInputError(
            f"{prefix} is all zeros: it keeps the whole image, so every candidate would be latent_image itself. "
            "Paint the region to change (white in the mask editor), or remove the mask."
        )


def check_condition(node_name: str, verifier: ManagedVerifier, verifier_text: str) -> str | None:
    if verifier.needs_condition and not verifier_text.strip():
        raise NodeInputError(
            f"{node_name}: the {verifier.name} verifier scores images against a text, and verifier_text is "
            "empty. Type the prompt the images should match (usually your positive prompt) into verifier_text."
        )
    return verifier_text if verifier.needs_condition else None


def latent_like(latent: dict[str, Any], samples: torch.Tensor) -> dict[str, Any]:
    out = {key: value for key, value in latent.items() if key not in ("noise_mask", "batch_index")}
    out["samples"] = samples
    return out


def search_denoisers(
    setup: SamplingSetup, search_steps: int, on_step: Callable[[torch.Tensor], None], probe_level: float | None
) -> tuple[ComfyDenoiser, ComfyDenoiser | None]:
    """The denoiser candidates are searched with and, when it has fewer steps, the one rendering the winner."""
    steps = len(setup.sigmas) - 1
    if search_steps > steps:
        raise SearchConfigError(
            "search_steps", f"is {search_steps} but the sampler runs {steps} steps; use 1 to {steps}, or 0 for all"
        )
    if 0 < search_steps < steps:
        search = setup.denoiser(setup.schedule_for(search_steps), on_step, probe_level)
        return search, setup.denoiser(setup.sigmas, on_step, probe_level)
    return setup.denoiser(setup.sigmas, on_step, probe_level), None


def run_search_node(
    node_name: str, setup: SamplingSetup, algorithm: Algorithm, vae: Any, verifier: ManagedVerifier,
    verifier_text: str, node_id: str | None,
) -> io.NodeOutput:
    condition = check_condition(node_name, verifier, verifier_text)
    progress = SearchProgress(setup.guider.model_patcher, setup.counter, node_status_sender(node_id))
    thumbnails = ThumbnailRecorder()
    scorer = DecodeAndScore(vae, verifier, condition, on_decoded=thumbnails, on_retained=thumbnails.retain)
    with reported_as(node_name):
        search, render = search_denoisers(setup, algorithm.search_steps, progress.on_step, verifier.probe_level)
        result = run_search(algorithm, search, scorer, setup.base_seed, progress, render)
    return search_outputs(setup, result, verifier.name, thumbnails)


def search_outputs(
    setup: SamplingSetup, result: SearchResult, verifier_name: str, thumbnails: ThumbnailRecorder
) -> io.NodeOutput:
    table = result.format_table()
    report = {**result.to_report(), "verifier": verifier_name, "sampling": setup.describe()}
    curve = plot_scaling_curve(result.curve, f"{result.algorithm} · {verifier_name}", result.plain_image_nfes)
    return io.NodeOutput(
        latent_like(setup.latent, result.best_latent),
        latent_like(setup.latent, result.ranked_latents()),
        table,
        json.dumps(report),
        curve,
        ui={"text": [table], "noise_search": [gallery_ui(result, thumbnails)]},
    )


SEARCH_OUTPUTS = [
    io.Latent.Output(display_name="best_latent", tooltip="The highest-scoring candidate, rendered at the full step count."),
    io.Latent.Output(display_name="ranked_latents",
                     tooltip=f"The best finished candidates, best first: at most {HELD_CANDIDATES} (the search keeps no "
                     "more latents than that), at search_steps when that is lower."),
    io.String.Output(display_name="scores", tooltip="The candidates by rank: seed, score, NFEs."),
    io.String.Output(display_name="report", tooltip="JSON: algorithm, parameters, costs, every candidate and its recipe."),
    io.Image.Output(display_name="scaling_curve", tooltip="Best score so far against NFEs spent."),
]
