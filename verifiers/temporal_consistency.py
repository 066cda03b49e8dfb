"""Temporal consistency: how steady a video is, as the mean feature similarity of consecutive frames.

Scores videos, not images (``scores_videos``): ``frames`` ``[B, T, H, W, C]`` are each video's picked frames in
order, and a video's score is the mean cosine similarity of frame t's features with frame t + 1's (DINOv2 or
CLIP, see :mod:`image_features`), in -1..1. Flicker and jumps lower it; so does wanted motion, so it is meant
for an ensemble beside a verifier of what the video shows.
"""

from __future__ import annotations

import torch

from .image_features import ImageFeatures


class TemporalConsistencyVerifier:
    name = "temporal consistency"
    needs_condition = False
    scores_videos = True

    def __init__(self, image_features: ImageFeatures) -> None:
        self.image_features = image_features

    @property
    def module(self) -> torch.nn.Module:
        return self.image_features.module

    def score(self, frames: torch.Tensor, condition: str | None) -> torch.Tensor:
        if frames.ndim != 5:
            raise ValueError(f"temporal consistency scores videos [B, T, H, W, C]; got images of shape {tuple(frames.shape)}")
        videos, count = frames.shape[:2]
        if count < 2:
            raise ValueError(f"temporal consistency compares consecutive frames, and {count} frame was picked per video; "
                             "pick at least two (e.g. every k-th frame, or all)")
        features = self.image_features.features(frames.reshape(videos * count, *frames.shape[2:]))
        features = features.reshape(videos, count, -1)
        return (features[:, :-1] * features[:, 1:]).sum(dim=-1).mean(dim=1).cpu()
