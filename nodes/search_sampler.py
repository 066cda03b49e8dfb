"""The search sampler: KSampler's inputs plus a VAE, a verifier and an algorithm; returns the best latent."""

from __future__ import annotations

from typing import Any

import comfy.sample
import comfy.samplers
from comfy_api.latest import io

from ..search import Algorithm
from .comfy_sampling import NFECounter, counted_guider
from .comfy_scoring import ManagedVerifier
from .comfy_types import CATEGORY, AlgorithmSocket, VerifierSocket
from .node_errors import NodeInputError
from .search_runner import SEARCH_OUTPUTS, SamplingSetup, check_latent, run_search_node

DISPLAY_NAME = "Noise Search Sampler"
VERIFIER_TOOLTIP = ("The model that rates each candidate image, higher is better: connect a verifier loader "
                    "(CLIP score, ImageReward, aesthetic, ...) or a Verifier Ensemble.")
ALGORITHM_TOOLTIP = ("How candidates are chosen, and how many: connect Random Search (best of N), Zero-Order Search "
                     "(neighbours of the best noise so far) or Search over Paths (branches of half-denoised images). "
                     "Its counts and max_nfes set the budget.")
LATENT_TOOLTIP = ("One latent (batch size 1); the search batches candidates itself. An encoded image works with every "
                  "algorithm: img2img with denoise below 1, inpainting with its noise mask (VAE Encode for Inpainting, "
                  "Set Latent Noise Mask).")
VERIFIER_TEXT_TOOLTIP = ("The text the verifier scores images against, usually the positive prompt: type it, or link "
                         "the String node that feeds the text encoder, so one prompt feeds both. Ignored by verifiers "
                         "that need no condition.")


def search_inputs() -> list[io.Input]:
    """The inputs both search samplers add to their sampling inputs."""
    return [
        io.Vae.Input("vae", tooltip="Decodes candidates for the verifier."),
        VerifierSocket.Input("verifier", tooltip=VERIFIER_TOOLTIP),
        AlgorithmSocket.Input("algorithm", tooltip=ALGORITHM_TOOLTIP),
        io.String.Input("verifier_text", default="", tooltip=VERIFIER_TEXT_TOOLTIP),
    ]


def ksampler_inputs() -> list[io.Input]:
    """KSampler's own inputs, so the search sampler (and the replay node) drop in where it was."""
    return [
        io.Model.Input("model"),
        io.Int.Input(
            "seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
            tooltip="Base seed: candidate i of a random search uses seed + i, so candidate 0 is what KSampler "
            "gives with this seed. Every other random draw of the search is derived from it.",
        ),
        io.Int.Input("steps", default=20, min=1, max=10000),
        io.Float.Input("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
        io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS),
        io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS),
        io.Conditioning.Input("positive"),
        io.Conditioning.Input("negative"),
        io.Latent.Input("latent_image", tooltip=LATENT_TOOLTIP),
        io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01),
    ]


def ksampler_setup(
    node_name: str, model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
    positive: Any, negative: Any, latent_image: dict[str, Any], denoise: float,
) -> SamplingSetup:
    """Guider, sampler and sigmas exactly as KSampler builds them, with the model's calls counted."""
    samples = comfy.sample.fix_empty_latent_channels(model, check_latent(node_name, latent_image))
    for input_name, value, options in (("sampler_name", sampler_name, comfy.samplers.KSampler.SAMPLERS),
                                       ("scheduler", scheduler, comfy.samplers.KSampler.SCHEDULERS)):
        if value not in options:  # ComfyUI checks dropdowns of V3 nodes only after 0.3.75
            raise NodeInputError(f"{node_name}: {input_name} '{value}' is not one of this ComfyUI's: {', '.join(options)}.")
    if denoise <= 0.0:
        raise NodeInputError(
            f"{node_name}: denoise is {denoise:g}, so the sampler would run no steps and there is nothing to sample. "
            "Set denoise above 0: 1.0 starts from pure noise; lower values keep part of latent_image."
        )
    counter = NFECounter()
    guider = counted_guider(comfy.samplers.CFGGuider(model), counter)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)

    def schedule_for(step_count: int):
        return comfy.samplers.KSampler(
            model, steps=step_count, device=model.load_device, sampler=sampler_name, scheduler=scheduler,
            denoise=denoise, model_options=model.model_options,
        ).sigmas

    return SamplingSetup(
        guider=guider, counter=counter, sampler=comfy.samplers.sampler_object(sampler_name),
        sigmas=schedule_for(steps), schedule_for=schedule_for, latent=latent_image, samples=samples, base_seed=seed,
        settings={"steps": steps, "cfg": cfg, "sampler_name": sampler_name, "scheduler": scheduler, "denoise": denoise},
    )


class SearchSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchSampler",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="A KSampler that searches over initial noises for the image the verifier scores best.",
            inputs=[
                *ksampler_inputs(),
                *search_inputs(),
            ],
            outputs=SEARCH_OUTPUTS,
            hidden=[io.Hidden.unique_id],
            is_output_node=True,  # its gallery is a result: ComfyUI sends it again when the run comes from the cache
        )

    @classmethod
    def execute(
        cls, model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
        positive: Any, negative: Any, latent_image: dict[str, Any], denoise: float, vae: Any,
        verifier: ManagedVerifier, algorithm: Algorithm, verifier_text: str,
    ) -> io.NodeOutput:
        setup = ksampler_setup(
            DISPLAY_NAME, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise
        )
        return run_search_node(DISPLAY_NAME, setup, algorithm, vae, verifier, verifier_text, cls.hidden.unique_id)
