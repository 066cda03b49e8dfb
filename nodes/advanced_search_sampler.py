"""The search sampler for custom-sampling graphs: NOISE, GUIDER, SAMPLER and SIGMAS, as SamplerCustomAdvanced."""

from __future__ import annotations

from typing import Any

import torch

import comfy.sample
from comfy_api.latest import io

from ..search import Algorithm
from .comfy_sampling import NFECounter, counted_guider
from .comfy_scoring import ManagedVerifier
from .comfy_types import CATEGORY
from .node_errors import NodeInputError
from .search_runner import SEARCH_OUTPUTS, SamplingSetup, check_latent, run_search_node
from .search_sampler import LATENT_TOOLTIP, search_inputs

DISPLAY_NAME = "Noise Search Sampler (Advanced)"


def subsampled(sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` steps spread evenly over a given schedule, keeping its first and last sigma."""
    indices = torch.linspace(0, len(sigmas) - 1, steps + 1).round().long().unique()
    return sigmas[indices]


class AdvancedSearchSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchSamplerAdvanced",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="SamplerCustomAdvanced with a search over initial noises: works with any guider "
            "(CFGGuider, BasicGuider for Flux-style models, custom guiders), sampler and sigmas.",
            inputs=[
                io.Noise.Input("noise", tooltip="A RandomNoise node: its seed is the search's base seed."),
                io.Guider.Input("guider"),
                io.Sampler.Input("sampler"),
                io.Sigmas.Input("sigmas"),
                io.Latent.Input("latent_image", tooltip=LATENT_TOOLTIP),
                *search_inputs(),
            ],
            outputs=SEARCH_OUTPUTS,
            hidden=[io.Hidden.unique_id],
            is_output_node=True,  # its gallery is a result: ComfyUI sends it again when the run comes from the cache
        )

    @classmethod
    def execute(
        cls, noise: Any, guider: Any, sampler: Any, sigmas: torch.Tensor, latent_image: dict[str, Any], vae: Any,
        verifier: ManagedVerifier, algorithm: Algorithm, verifier_text: str,
    ) -> io.NodeOutput:
        if getattr(noise, "seed", None) is None or torch.count_nonzero(noise.generate_noise(latent_image)) == 0:
            raise NodeInputError(
                f"{DISPLAY_NAME}: the noise input makes no random noise (DisableNoise?); the search needs a seed. "
                "Connect a RandomNoise node."
            )
        setup = advanced_setup(DISPLAY_NAME, guider, sampler, sigmas, latent_image, noise.seed)
        return run_search_node(DISPLAY_NAME, setup, algorithm, vae, verifier, verifier_text, cls.hidden.unique_id)


def advanced_setup(
    node_name: str, guider: Any, sampler: Any, sigmas: torch.Tensor, latent_image: dict[str, Any], base_seed: int
) -> SamplingSetup:
    """What SamplerCustomAdvanced samples with, the guider's model calls counted on a copy of it."""
    samples = comfy.sample.fix_empty_latent_channels(guider.model_patcher, check_latent(node_name, latent_image))
    if len(sigmas) < 2:
        raise NodeInputError(
            f"{node_name}: sigmas must hold at least 2 values (one step) but holds {len(sigmas)}. A scheduler with "
            "denoise 0 gives none, and the low half of a SplitSigmas at its last step gives one."
        )
    counter = NFECounter()
    return SamplingSetup(
        guider=counted_guider(guider, counter), counter=counter, sampler=sampler, sigmas=sigmas,
        schedule_for=lambda steps: subsampled(sigmas, steps), latent=latent_image, samples=samples,
        base_seed=base_seed,
    )
