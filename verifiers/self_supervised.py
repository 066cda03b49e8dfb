"""The paper's self-supervised verifier: does the final sample keep what the model saw halfway?

Score = cosine similarity between image features of the final sample and of the model's x0
prediction at a low noise level (the "probe"). It needs no prompt or class, and correlates with the
classifier-logit verifiers in the paper. The search engine captures the probe during sampling, so it
costs no extra network evaluations.
"""

from __future__ import annotations

import torch

from .errors import VerifierConditionError
from .image_features import ImageFeatures


class SelfSupervisedVerifier:
    """Feature similarity of final images and their probe images under an image encoder (CLIP's)."""

    name = "self-supervised"
    needs_condition = False

    def __init__(self, image_features: ImageFeatures, probe_level: float) -> None:
        if not 0.0 < probe_level < 1.0:
            raise ValueError(f"probe_level is {probe_level}; choose a noise level t between 0 and 1 (e.g. 0.4)")
        self.image_features = image_features
        self.probe_level = probe_level

    @property
    def module(self) -> torch.nn.Module:
        return self.image_features.module

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_features.features(images)

    def score(self, images: torch.Tensor, condition: str | None, probes: torch.Tensor | None = None) -> torch.Tensor:
        if probes is None:
            raise VerifierConditionError(
                "the self-supervised verifier compares each final image with the model's x0 prediction at noise "
                f"level {self.probe_level}, and none was captured; use it with random or zero-order search"
            )
        if probes.shape[0] != images.shape[0]:
            raise ValueError(f"{probes.shape[0]} probe images for {images.shape[0]} images")
        return (self.features(images) * self.features(probes)).sum(dim=-1).cpu()
