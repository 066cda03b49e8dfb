"""Algorithm node: random search (best-of-N)."""

from __future__ import annotations

from comfy_api.latest import io

from ..search import RandomSearch
from .comfy_types import CATEGORY, AlgorithmSocket
from .node_errors import reported_as

DISPLAY_NAME = "Random Search (Noise Search)"


class RandomSearchNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchRandomSearch",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Best-of-N: sample N initial noises (seeds seed, seed+1, ...), keep the best-scoring image.",
            inputs=[
                io.Int.Input(
                    "num_candidates", default=8, min=1, max=4096,
                    tooltip="N: how many noises to try. Costs N times the NFEs of one image; 1 is a plain sampler run.",
                ),
                io.Int.Input(
                    "batch_size", default=4, min=1, max=256,
                    tooltip="Candidates sampled together in one sampler call. Larger is faster on a GPU and uses "
                    "more memory; results do not depend on it. Ancestral/SDE samplers run one at a time.",
                ),
            ],
            outputs=[AlgorithmSocket.Output(display_name="algorithm")],
        )

    @classmethod
    def execute(cls, num_candidates: int, batch_size: int) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            return io.NodeOutput(RandomSearch(num_candidates=num_candidates, batch_size=batch_size))
