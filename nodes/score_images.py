"""Score Images: rank any IMAGE batch with any verifier, best first."""

from __future__ import annotations

import json

import torch

from comfy_api.latest import io

from ..search.tracking import non_finite_message
from .comfy_scoring import ManagedVerifier
from .comfy_types import CATEGORY, VerifierSocket
from .node_errors import NodeInputError, reported_as

DISPLAY_NAME = "Score Images (Noise Search)"


class ScoreImages(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchScoreImages",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores every image of a batch with a verifier and returns them sorted, best first. A NaN or "
            "inf score is refused, naming the image.",
            inputs=[
                io.Image.Input("images"),
                VerifierSocket.Input("verifier"),
                io.String.Input("text", multiline=True, default="",
                                tooltip="What the images should match, for verifiers that need a prompt."),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="The images, best first."),
                io.String.Output(display_name="scores", tooltip="JSON: each image's score and original index, best first."),
                io.Float.Output(display_name="best_score"),
            ],
        )

    @classmethod
    def execute(cls, images: torch.Tensor, verifier: ManagedVerifier, text: str) -> io.NodeOutput:
        if verifier.needs_condition and not text.strip():
            raise NodeInputError(f"{DISPLAY_NAME}: the {verifier.name} verifier needs a text; type it into text.")
        if verifier.probe_level is not None:
            raise NodeInputError(
                f"{DISPLAY_NAME}: the {verifier.name} verifier compares a final image with the model's x0 prediction "
                "during sampling, which finished images do not have; use it on a search sampler."
            )
        with reported_as(DISPLAY_NAME):
            scores = verifier.score(images, text if verifier.needs_condition else None).float().cpu()
        problem = non_finite_message(scores, getattr(verifier, "verifier_names", [verifier.name]),
                                     lambda row: f"image {row} (counting from 0) of {images.shape[0]}")
        if problem is not None:
            raise NodeInputError(f"{DISPLAY_NAME}: {problem}")
        combine = getattr(verifier, "combine", None)
        if combine is not None:  # an ensemble ranks the images against each other
            scores = combine(scores)
        order = torch.argsort(scores, descending=True, stable=True)
        ranked = [{"index": int(i), "score": float(scores[i])} for i in order]
        table = "\n".join(f"{rank}. image {r['index']}: {r['score']:.6g}" for rank, r in enumerate(ranked, start=1))
        return io.NodeOutput(images[order.to(images.device)], json.dumps(ranked), ranked[0]["score"],
                             ui={"text": [table]})
