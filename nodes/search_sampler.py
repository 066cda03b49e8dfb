"""The search sampler: KSampler's inputs plus a VAE, a verifier and an algorithm; returns the best latent."""

from __future__ import annotations

import json
from typing import Any

import torch

import comfy.sample
import comfy.samplers
from comfy_api.latest import io, ui

from ..search import RandomSearch, SearchResult
from .comfy_sampling import ComfyDenoiser, NFECounter, counted_model
from .comfy_scoring import DecodeAndScore, ManagedVerifier
from .comfy_types import CATEGORY, AlgorithmSocket, VerifierSocket
from .node_errors import NodeInputError, reported_as
from .progress import SearchProgress, node_text_sender

DISPLAY_NAME = "Noise Search Sampler"


def check_latent(latent: dict[str, Any]) -> torch.Tensor:
    samples = latent["samples"]
    if samples.is_nested or samples.ndim < 4:
        raise NodeInputError(f"{DISPLAY_NAME}: latent_image has shape {tuple(samples.shape)}; expected [1, C, H, W].")
    if samples.shape[0] != 1:
        raise NodeInputError(
            f"{DISPLAY_NAME}: latent_image holds a batch of {samples.shape[0]}; the search makes its own batch of "
            "candidates. Give it one latent (batch_size 1 on the Empty Latent Image node) and set the number "
            "of candidates on the algorithm node."
        )
    return samples


def check_condition(verifier: ManagedVerifier, verifier_text: str) -> str | None:
    if verifier.needs_condition and not verifier_text.strip():
        raise NodeInputError(
            f"{DISPLAY_NAME}: the {verifier.name} verifier scores images against a text, and verifier_text is "
            "empty. Type the prompt the images should match (usually your positive prompt) into verifier_text."
        )
    return verifier_text if verifier.needs_condition else None


def latent_like(latent: dict[str, Any], samples: torch.Tensor) -> dict[str, Any]:
    out = {key: value for key, value in latent.items() if key not in ("noise_mask", "batch_index")}
    out["samples"] = samples
    return out


class SearchSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchSampler",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="A KSampler that searches over initial noises for the image the verifier scores best.",
            inputs=[
                io.Model.Input("model"),
                io.Int.Input(
                    "seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                    tooltip="Base seed: candidate i uses seed + i, so candidate 0 is what KSampler gives with this seed.",
                ),
                io.Int.Input("steps", default=20, min=1, max=10000),
                io.Float.Input("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Latent.Input("latent_image", tooltip="One latent (batch size 1); the search batches candidates itself."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01),
                io.Vae.Input("vae", tooltip="Decodes candidates for the verifier."),
                VerifierSocket.Input("verifier"),
                AlgorithmSocket.Input("algorithm"),
                io.String.Input(
                    "verifier_text", multiline=True, default="",
                    tooltip="The text the verifier scores images against (usually the positive prompt). "
                    "Ignored by verifiers that need no condition.",
                ),
            ],
            outputs=[
                io.Latent.Output(display_name="best_latent", tooltip="The highest-scoring candidate."),
                io.Latent.Output(display_name="ranked_latents", tooltip="Every candidate, best first."),
                io.String.Output(display_name="scores", tooltip="The candidates by rank: seed, score, NFEs."),
                io.String.Output(display_name="report", tooltip="JSON: algorithm, parameters and every candidate."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(
        cls, model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
        positive: Any, negative: Any, latent_image: dict[str, Any], denoise: float, vae: Any,
        verifier: ManagedVerifier, algorithm: RandomSearch, verifier_text: str,
    ) -> io.NodeOutput:
        samples = comfy.sample.fix_empty_latent_channels(model, check_latent(latent_image))
        condition = check_condition(verifier, verifier_text)

        counter = NFECounter()
        guider = comfy.samplers.CFGGuider(counted_model(model, counter))
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        sigmas = comfy.samplers.KSampler(
            model, steps=steps, device=model.load_device, sampler=sampler_name, scheduler=scheduler,
            denoise=denoise, model_options=model.model_options,
        ).sigmas
        progress = SearchProgress(
            model, algorithm.num_candidates * (len(sigmas) - 1), node_text_sender(cls.hidden.unique_id)
        )
        denoiser = ComfyDenoiser(
            guider, comfy.samplers.sampler_object(sampler_name), sigmas, samples, counter,
            noise_mask=latent_image.get("noise_mask"), batch_index=latent_image.get("batch_index"),
            on_step=progress.on_step,
        )
        with reported_as(DISPLAY_NAME):
            result = algorithm.run(denoiser, DecodeAndScore(vae, verifier, condition), seed, progress)
        return search_outputs(latent_image, result)


def search_outputs(latent_image: dict[str, Any], result: SearchResult) -> io.NodeOutput:
    table = result.format_table()
    return io.NodeOutput(
        latent_like(latent_image, result.best.latent),
        latent_like(latent_image, result.ranked_latents()),
        table,
        json.dumps(result.to_report()),
        ui=ui.PreviewText(table),
    )
