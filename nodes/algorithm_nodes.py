"""Algorithm nodes: each returns a configured search for a search-sampler node to run."""

from __future__ import annotations

import math

from comfy_api.latest import io

from ..search import FKSteering, NFEBudget, PathsSearch, PrunedRandomSearch, RandomSearch, ZeroOrderSearch
from ..search.fk_steering import POTENTIALS
from ..search.pruned_random import parse_checkpoints
from .comfy_types import CATEGORY, AlgorithmSocket
from .node_errors import reported_as


def batch_size_input() -> io.Int.Input:
    return io.Int.Input(
        "batch_size", default=4, min=1, max=256,
        tooltip="Candidates sampled together in one sampler call: faster on a GPU, more memory; results do not "
        "depend on it beyond float rounding. Ancestral/SDE samplers run one candidate per call.",
    )


def search_steps_input() -> io.Int.Input:
    return io.Int.Input(
        "search_steps", default=0, min=0, max=10000,
        tooltip="Steps per candidate while searching (the paper's NFEs/iter). 0: the sampler's full step count. "
        "Fewer steps search cheaper previews; the winner's noise is then rendered at the full step count.",
    )


def max_nfes_input() -> io.Int.Input:
    return io.Int.Input(
        "max_nfes", default=0, min=0, max=10_000_000,
        tooltip="Budget cap in NFEs (network evaluations; with CFG one step of one image is 2). The search stops "
        "before exceeding it. 0: no cap, the counts above decide.",
    )


class RandomSearchNode(io.ComfyNode):
    DISPLAY_NAME = "Random Search (Noise Search)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchRandomSearch",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description="Best-of-N: sample N initial noises (seeds seed, seed+1, ...), keep the best-scoring image.",
            inputs=[
                io.Int.Input(
                    "num_candidates", default=8, min=1, max=4096,
                    tooltip="N: how many noises to try. Costs N times the NFEs of one image; 1 is a plain sampler run.",
                ),
                batch_size_input(),
                search_steps_input(),
                max_nfes_input(),
            ],
            outputs=[AlgorithmSocket.Output(display_name="algorithm")],
        )

    @classmethod
    def execute(cls, num_candidates: int, batch_size: int, search_steps: int, max_nfes: int) -> io.NodeOutput:
        with reported_as(cls.DISPLAY_NAME):
            return io.NodeOutput(RandomSearch(num_candidates, batch_size, search_steps, NFEBudget(max_nfes)))


class ZeroOrderSearchNode(io.ComfyNode):
    DISPLAY_NAME = "Zero-Order Search (Noise Search)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchZeroOrderSearch",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description="Local search around a pivot noise: try neighbours, move to the best one that improves, "
            "draw a fresh pivot when none does. Less prone to verifier hacking than random search.",
            inputs=[
                io.Int.Input("num_neighbours", default=4, min=1, max=1024, tooltip="N: neighbours tried per round."),
                io.Int.Input("iterations", default=4, min=1, max=1024, tooltip="K: rounds of neighbours."),
                io.Float.Input(
                    "lambda", default=0.3, min=0.01, max=round(math.pi, 2), step=0.01,
                    tooltip="Neighbourhood size: the angle in radians between the pivot and each neighbour on the "
                    "noise sphere (cosine similarity cos(lambda); 0.3 keeps 95.5% of the pivot).",
                ),
                batch_size_input(),
                search_steps_input(),
                max_nfes_input(),
            ],
            outputs=[AlgorithmSocket.Output(display_name="algorithm")],
        )

    @classmethod
    def execute(cls, num_neighbours: int, iterations: int, batch_size: int, search_steps: int, max_nfes: int,
                **kwargs: float) -> io.NodeOutput:
        with reported_as(cls.DISPLAY_NAME):
            return io.NodeOutput(ZeroOrderSearch(
                num_neighbours, iterations, kwargs["lambda"], batch_size, search_steps, NFEBudget(max_nfes)
            ))


class PathsSearchNode(io.ComfyNode):
    DISPLAY_NAME = "Search over Paths (Noise Search)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchPathsSearch",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description="Branch half-denoised states: re-noise each path with fresh noises, denoise further, keep "
            "the branches whose x0 predictions score best, until the schedule ends.",
            inputs=[
                io.Int.Input("num_paths", default=2, min=1, max=256, tooltip="N: paths kept after every round."),
                io.Int.Input("branches", default=4, min=1, max=256, tooltip="M: fresh noises per path per round."),
                io.Int.Input("start_step", default=10, min=1, max=10000,
                             tooltip="The schedule step where branching starts: after forward_steps, before the last step."),
                io.Int.Input("forward_steps", default=2, min=1, max=10000,
                             tooltip="Δf: steps each path is re-noised back by before branching."),
                io.Int.Input("backward_steps", default=4, min=2, max=10000,
                             tooltip="Δb: steps each branch is denoised; must exceed forward_steps, so a round "
                             "advances backward_steps − forward_steps steps."),
                batch_size_input(),
                max_nfes_input(),
            ],
            outputs=[AlgorithmSocket.Output(display_name="algorithm")],
        )

    @classmethod
    def execute(cls, num_paths: int, branches: int, start_step: int, forward_steps: int, backward_steps: int,
                batch_size: int, max_nfes: int) -> io.NodeOutput:
        with reported_as(cls.DISPLAY_NAME):
            return io.NodeOutput(PathsSearch(
                num_paths, branches, start_step, forward_steps, backward_steps, batch_size, NFEBudget(max_nfes)
            ))


class FKSteeringNode(io.ComfyNode):
    DISPLAY_NAME = "FK Steering (Noise Search)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchFKSteering",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description="Feynman-Kac steering (Singhal et al., 2025): k particles sampled together; at resampling "
            "steps their x0 predictions are scored and, when the weights grow uneven, the particles are resampled "
            "(good ones duplicated, poor ones dropped). The best finished particle wins.",
            inputs=[
                io.Int.Input("num_particles", default=4, min=2, max=256,
                             tooltip="k: particles sampled together. Costs k times the NFEs of one image (plus the "
                             "re-noised steps with an ODE sampler)."),
                io.Combo.Input("potential", options=list(POTENTIALS), default="max",
                               tooltip="How rewards become weights: max (the best x0 reward so far on the particle's "
                               "path), difference (the reward's gain since the last resampling step), sum (all its "
                               "rewards so far)."),
                io.Float.Input("lambda", default=10.0, min=0.01, max=1000.0, step=0.01,
                               tooltip="λ: weights are exp(λ·potential). Higher steers harder towards the verifier "
                               "(and resamples more often); match it to the verifier's score scale."),
                io.Int.Input("start_step", default=4, min=1, max=10000,
                             tooltip="The schedule step of the first resampling: after the first step (after "
                             "renoise_steps with an ODE sampler), before the last."),
                io.Int.Input("interval", default=4, min=1, max=10000,
                             tooltip="Steps between resampling steps, from start_step to the end of the schedule."),
                io.Float.Input("ess_threshold", default=0.5, min=0.01, max=1.0, step=0.01,
                               tooltip="Resample when the effective sample size of the weights falls below this "
                               "fraction of the particles. 1.0 resamples whenever the weights differ."),
                io.Int.Input("renoise_steps", default=1, min=1, max=10000,
                             tooltip="ODE samplers only (euler, dpmpp_2m...; ancestral/SDE samplers use their own "
                             "noise): each particle is re-noised this many steps back after every resampling step "
                             "so copies part ways; those steps are sampled again and cost NFEs."),
                batch_size_input(),
                max_nfes_input(),
            ],
            outputs=[AlgorithmSocket.Output(display_name="algorithm")],
        )

    @classmethod
    def execute(cls, num_particles: int, potential: str, start_step: int, interval: int, ess_threshold: float,
                renoise_steps: int, batch_size: int, max_nfes: int, **kwargs: float) -> io.NodeOutput:
        with reported_as(cls.DISPLAY_NAME):
            return io.NodeOutput(FKSteering(
                num_particles, potential, kwargs["lambda"], start_step, interval, ess_threshold, renoise_steps,
                batch_size, NFEBudget(max_nfes),
            ))


class PrunedRandomSearchNode(io.ComfyNode):
    DISPLAY_NAME = "Pruned Random Search (Noise Search)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchPrunedRandomSearch",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description="Random search's N noises (seeds seed, seed+1, ...), with the weakest stopped early: at each "
            "checkpoint the candidates' x0 predictions are scored and only the best fraction keeps sampling.",
            inputs=[
                io.Int.Input(
                    "num_candidates", default=16, min=1, max=4096,
                    tooltip="N: how many noises to start. The same noises Random Search tries with this seed.",
                ),
                io.String.Input(
                    "checkpoints", default="0.25, 0.5",
                    tooltip="Where to prune, as fractions of the steps (0.25 of 20 steps is step 5), increasing, "
                    "each strictly between 0 and 1. At each one the candidates' x0 predictions are scored.",
                ),
                io.Float.Input(
                    "keep_fraction", default=0.5, min=0.0, max=1.0, step=0.01,
                    tooltip="The fraction of candidates kept at each checkpoint, rounded up (at least 1); the rest "
                    "stop and their remaining NFEs are saved. 1 prunes nothing.",
                ),
                batch_size_input(),
                search_steps_input(),
                max_nfes_input(),
            ],
            outputs=[AlgorithmSocket.Output(display_name="algorithm")],
        )

    @classmethod
    def execute(cls, num_candidates: int, checkpoints: str, keep_fraction: float, batch_size: int, search_steps: int,
                max_nfes: int) -> io.NodeOutput:
        with reported_as(cls.DISPLAY_NAME):
            return io.NodeOutput(PrunedRandomSearch(
                num_candidates, parse_checkpoints(checkpoints), keep_fraction, batch_size, search_steps, NFEBudget(max_nfes)
            ))
