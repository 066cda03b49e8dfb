"""CLIP zero-shot classifier logits: the paper's class-conditional verifier, without a trained head.

The condition names the class the model was asked for (a class name, or its index in the class
list); the score is CLIP's logit for that class: logit_scale × cosine between the image embedding and
the class's text embedding (averaged over prompt templates). No softmax, so an image's score does not
depend on other images or on the other classes.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .errors import VerifierConditionError
from .image_preprocessing import normalize, resize_and_center_crop

IMAGENET_1K_CLASSES = Path(__file__).with_name("data") / "imagenet_1k_classes.txt"


def imagenet_1k_classes() -> list[str]:
    """ImageNet-1k class names in index order (shipped in verifiers/data)."""
    return IMAGENET_1K_CLASSES.read_text().splitlines()


def class_index(condition: str | None, class_names: Sequence[str]) -> int:
    """The class a condition names: an index ("207") or a class name, ignoring case and spaces."""
    text = (condition or "").strip()
    if not text:
        raise VerifierConditionError("the class-logit verifier needs the conditioning class; the condition is empty")
    if text.isdigit():
        index = int(text)
        if index < len(class_names):
            return index
        raise VerifierConditionError(f"class index {index} is outside the {len(class_names)} classes")
    folded = [name.casefold() for name in class_names]
    if text.casefold() in folded:
        return folded.index(text.casefold())
    close = difflib.get_close_matches(text, class_names, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise VerifierConditionError(f"'{text}' is not one of the verifier's {len(class_names)} class names{hint}")


class CLIPZeroShotVerifier:
    name = "CLIP class logit"
    needs_condition = True

    def __init__(
        self, model: torch.nn.Module, tokenizer: Callable[[list[str]], torch.Tensor], image_size: int,
        mean: Sequence[float], std: Sequence[float], class_names: Sequence[str],
        templates: Sequence[Callable[[str], str]],
    ) -> None:
        if not class_names:
            raise ValueError("a class-logit verifier needs at least one class name")
        self._model = model.eval()
        self._tokenizer = tokenizer
        self.image_size = image_size
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.class_names = list(class_names)
        self.templates = list(templates)
        self._class_embeddings: dict[int, torch.Tensor] = {}

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    def class_embedding(self, index: int, device: torch.device) -> torch.Tensor:
        """The class's text embedding: the mean of its normalised template embeddings, normalised."""
        if index not in self._class_embeddings:
            prompts = [template(self.class_names[index]) for template in self.templates]
            embeddings = F.normalize(self._model.encode_text(self._tokenizer(prompts).to(device)).float(), dim=-1)
            self._class_embeddings[index] = F.normalize(embeddings.mean(dim=0), dim=-1).cpu()
        return self._class_embeddings[index].to(device)

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        index = class_index(condition, self.class_names)
        parameter = next(self._model.parameters())
        pixels = normalize(resize_and_center_crop(images, self.image_size), self.mean, self.std)
        image_embeddings = F.normalize(self._model.encode_image(pixels.to(parameter.device, parameter.dtype)).float(), dim=-1)
        logit_scale = self._model.logit_scale.exp().float()
        return (logit_scale * image_embeddings @ self.class_embedding(index, parameter.device)).cpu()
