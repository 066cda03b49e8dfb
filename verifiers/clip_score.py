"""CLIP score: how well an image matches a text prompt, by an open_clip model."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .errors import VerifierConditionError
from .image_preprocessing import normalize, resize_and_center_crop

Tokenizer = Callable[[list[str]], torch.Tensor]


class CLIPScoreVerifier:
    """100 × cosine similarity between the image and text embeddings of a CLIP model.

    This is torchmetrics' CLIPScore without its clamp at zero, so poor matches still rank.
    """

    name = "CLIP score"
    needs_condition = True

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Tokenizer,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self._model = model.eval()
        self._tokenizer = tokenizer
        self.image_size = image_size
        self.mean = tuple(mean)
        self.std = tuple(std)

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        if condition is None or not condition.strip():
            raise VerifierConditionError(
                "the CLIP score verifier scores images against a text prompt, and the prompt is empty"
            )
        parameter = next(self._model.parameters())
        pixels = normalize(resize_and_center_crop(images, self.image_size), self.mean, self.std)
        image_features = self._model.encode_image(pixels.to(parameter.device, parameter.dtype))
        tokens = self._tokenizer([condition]).to(parameter.device)
        text_features = self._model.encode_text(tokens)
        similarity = F.normalize(image_features.float(), dim=-1) @ F.normalize(text_features.float(), dim=-1).T
        return (100.0 * similarity[:, 0]).cpu()
