"""Digit classifiers for the demo model: the supervised class-logit verifier and the evaluation network.

The paper scores class-conditional samples with a classifier's logit for the requested class (its
DINO/CLIP verifiers) and evaluates them with a separate network (Inception). The demo model gets both
roles from this small CNN, trained twice with different widths and seeds by ``demo_model.train``; the
file keeps its width in the safetensors metadata so loading needs nothing else.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import VerifierConfigError
from .image_features import EncoderImageFeatures
from .self_supervised import SelfSupervisedVerifier
from .zero_shot import class_index

INPUT_SIZE = 16
DIGIT_NAMES = [str(digit) for digit in range(10)]


class DigitClassifier(nn.Module):
    """Two conv blocks (16→8→4 px) and a two-layer head; :meth:`features` is the head's hidden layer."""

    def __init__(self, width: int, feature_size: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.width = width
        self.feature_size = feature_size
        self.convs = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.hidden = nn.Linear(2 * width * (INPUT_SIZE // 4) ** 2, feature_size)
        self.logits = nn.Linear(feature_size, classes)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """``pixels``: ``[B, 1, 16, 16]`` in -1..1 (ink -1, paper 1). Returns ``[B, feature_size]``."""
        return F.relu(self.hidden(self.convs(pixels).flatten(1)))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(pixels))


def classifier_input(images: torch.Tensor) -> torch.Tensor:
    """ComfyUI IMAGE ``[B, H, W, C]`` in 0..1 to the classifier's grey ``[B, 1, 16, 16]`` in -1..1."""
    grey = images.float().mean(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    if grey.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        grey = F.interpolate(grey, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return grey * 2.0 - 1.0


def save_digit_classifier(classifier: DigitClassifier, path: Path) -> None:
    from safetensors.torch import save_file

    metadata = {"width": str(classifier.width), "feature_size": str(classifier.feature_size)}
    save_file({k: v.contiguous() for k, v in classifier.state_dict().items()}, str(path), metadata=metadata)


def load_digit_classifier(path: Path) -> DigitClassifier:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    if "width" not in metadata:
        raise VerifierConfigError(f"{path.name} is not a noise-search digit classifier (no 'width' in its metadata)")
    classifier = DigitClassifier(int(metadata["width"]), int(metadata.get("feature_size", 64)))
    classifier.load_state_dict(load_file(str(path)))
    return classifier.eval().requires_grad_(False)


class DigitFeatureEncoder(nn.Module):
    """The classifier's hidden features behind an ``encode_image`` over RGB pixels normalised to -1..1.

    It lets :class:`~verifiers.self_supervised.SelfSupervisedVerifier` use the digit classifier as its
    feature network, as the paper uses DINO or CLIP features on ImageNet.
    """

    def __init__(self, classifier: DigitClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(pixels.mean(dim=1, keepdim=True))


def digit_self_supervised_verifier(classifier: DigitClassifier, probe_level: float) -> SelfSupervisedVerifier:
    """The paper's self-supervised verifier on the digit classifier's features (no class needed)."""
    return SelfSupervisedVerifier(EncoderImageFeatures(DigitFeatureEncoder(classifier), INPUT_SIZE, (0.5,) * 3, (0.5,) * 3),
                                  probe_level)


class DigitClassLogitVerifier:
    """The demo model's supervised verifier: the classifier's logit for the requested digit (no softmax)."""

    name = "digit class logit"
    needs_condition = True

    def __init__(self, classifier: DigitClassifier) -> None:
        self._classifier = classifier.eval().requires_grad_(False)
        self.class_names = list(DIGIT_NAMES)

    @property
    def module(self) -> torch.nn.Module:
        return self._classifier

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        index = class_index(condition, self.class_names)
        parameter = next(self._classifier.parameters())
        pixels = classifier_input(images).to(parameter.device, parameter.dtype)
        return self._classifier(pixels)[:, index].float().cpu()
