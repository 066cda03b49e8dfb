"""Which frames of a video a verifier sees, and how image scores of those frames make the video's score."""

from __future__ import annotations

from dataclasses import dataclass

import torch

ALL, FIRST, MIDDLE, LAST, EVERY_KTH = "all", "first", "middle", "last", "every k-th"
FRAME_CHOICES = (ALL, FIRST, MIDDLE, LAST, EVERY_KTH)
MEAN, MIN = "mean", "min"
AGGREGATES = (MEAN, MIN)
STRIP_FRAMES = 4
"""How many picked frames a candidate's gallery thumbnail shows, side by side."""


@dataclass(frozen=True)
class FramePick:
    """``frames``: which frames; ``every``: k for ``every k-th`` (frames 0, k, 2k, ...); ``aggregate``: how the
    picked frames' image scores become one score per video (``min``: a video is as good as its worst frame)."""

    frames: str = ALL
    every: int = 1
    aggregate: str = MEAN

    def __post_init__(self) -> None:
        if self.frames not in FRAME_CHOICES:
            raise ValueError(f"frames is {self.frames!r}; choose one of {', '.join(FRAME_CHOICES)}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate is {self.aggregate!r}; choose mean or min")
        if self.every < 1:
            raise ValueError(f"every is {self.every}; pick every k-th frame with k of at least 1")

    def indices(self, count: int) -> list[int]:
        """The picked frames of a video of ``count`` frames, in order."""
        if count < 1:
            raise ValueError("the video has no frames")
        return {ALL: list(range(count)), FIRST: [0], MIDDLE: [count // 2], LAST: [count - 1],
                EVERY_KTH: list(range(0, count, self.every))}[self.frames]

    def pick(self, videos: torch.Tensor) -> torch.Tensor:
        """``[B, T, H, W, C]`` -> ``[B, T', H, W, C]``, the picked frames."""
        if videos.ndim != 5:
            raise ValueError(f"expected videos [B, T, H, W, C], got shape {tuple(videos.shape)}")
        return videos[:, self.indices(videos.shape[1])]

    def combine(self, frame_scores: torch.Tensor) -> torch.Tensor:
        """``[B, T']`` image scores of each video's picked frames -> ``[B]``."""
        return frame_scores.mean(dim=1) if self.aggregate == MEAN else frame_scores.min(dim=1).values


def frame_strip(frames: torch.Tensor, count: int = STRIP_FRAMES) -> torch.Tensor:
    """``[T, H, W, C]`` -> one image ``[H, W × n, C]`` of up to ``count`` evenly spaced frames, side by side."""
    chosen = torch.linspace(0, frames.shape[0] - 1, min(count, frames.shape[0])).round().long().unique()
    return torch.cat(list(frames[chosen]), dim=1)
