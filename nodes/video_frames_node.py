"""The node that says which frames of a video a verifier scores, and how their scores make the video's."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ..verifiers import VerifierConditionError
from ..verifiers.video_frames import AGGREGATES, EVERY_KTH, FRAME_CHOICES, MEAN, FramePick
from .comfy_scoring import ALL_FRAMES
from .comfy_types import CATEGORY, VerifierSocket
from .node_errors import NodeInputError

DISPLAY_NAME = "Video Frames for Verifier (Noise Search)"


class FramedVerifier:
    """A verifier (or ensemble) that scores videos on the picked frames only; images are refused."""

    def __init__(self, inner: Any, frame_pick: FramePick) -> None:
        """``inner``: a managed verifier or an ensemble (anything scoring with a ``frames`` argument)."""
        self.inner = inner
        self.frame_pick = frame_pick
        self.combine = getattr(inner, "combine", None)
        self.verifier_names = getattr(inner, "verifier_names", [inner.name])

    @property
    def name(self) -> str:
        every = f" {self.frame_pick.every}" if self.frame_pick.frames == EVERY_KTH else ""
        return f"{self.inner.name} on {self.frame_pick.frames}{every} frames ({self.frame_pick.aggregate})"

    @property
    def needs_condition(self) -> bool:
        return self.inner.needs_condition

    @property
    def probe_level(self) -> float | None:
        return self.inner.probe_level

    def score(self, images: torch.Tensor, condition: str | None, probes: torch.Tensor | None = None,
              frames: FramePick = ALL_FRAMES) -> torch.Tensor:
        if images.ndim != 5:
            raise VerifierConditionError(
                f"{DISPLAY_NAME} picks frames of videos, and this search makes images; connect the verifier directly"
            )
        return self.inner.score(images, condition, probes, self.frame_pick)


class VideoFramesForVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchVideoFrames",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="For video models: which decoded frames of each candidate video the verifier scores, and how "
            "an image verifier's frame scores make the video's score (mean, or min: a video is as good as its worst "
            "frame). A video verifier (temporal consistency) gets the picked frames as a video. Without this node a "
            "video is scored on all its frames, by their mean.",
            inputs=[
                VerifierSocket.Input("verifier"),
                io.Combo.Input("frames", options=list(FRAME_CHOICES), default=EVERY_KTH,
                               tooltip="first, middle or last frame; every k-th frame (0, k, 2k, ...); or all frames."),
                io.Int.Input("every", default=4, min=1, max=1024, tooltip="k for 'every k-th'; ignored otherwise."),
                io.Combo.Input("aggregate", options=list(AGGREGATES), default=MEAN,
                               tooltip="How an image verifier's scores of the picked frames make one score per video."),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def execute(cls, verifier: Any, frames: str, every: int, aggregate: str) -> io.NodeOutput:
        try:
            pick = FramePick(frames, every, aggregate)
        except ValueError as error:
            raise NodeInputError(f"{DISPLAY_NAME}: {error}") from error
        return io.NodeOutput(FramedVerifier(verifier, pick))
