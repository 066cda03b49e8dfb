"""DINOv2 with a linear head: the paper's DINO classifier-logit verifier for class-conditional models.

The backbone is a transformers DINOv2 folder (``config.json`` + weights, as in ``facebook/dinov2-base``);
the head is the official linear classifier (``dinov2_vitb14_linear_head.pth``: ``weight`` [classes,
2 × hidden] and ``bias`` [classes]) over the concatenation of the normalised class token and the mean
of the normalised patch tokens. The score is the head's logit for the conditioning class (no softmax).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .errors import VerifierConfigError
from .image_preprocessing import normalize, resize_and_center_crop
from .zero_shot import class_index

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HEAD_KEYS = {"weight", "bias"}


class DINOv2Classifier(torch.nn.Module):
    def __init__(self, backbone: torch.nn.Module, head: torch.nn.Linear) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        tokens = self.backbone(pixel_values=pixels).last_hidden_state
        features = torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=-1)
        return self.head(features)


def load_linear_head(path: Path, hidden_size: int) -> torch.nn.Linear:
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if set(state) != HEAD_KEYS or state["weight"].ndim != 2:
        raise VerifierConfigError(f"{path.name} is not a DINOv2 linear head: expected 'weight' and 'bias', got {sorted(state)}")
    if state["weight"].shape[1] != 2 * hidden_size:
        raise VerifierConfigError(
            f"{path.name} takes {state['weight'].shape[1]} features but this DINOv2 gives 2 × {hidden_size}; "
            "use the head made for this backbone (e.g. dinov2_vitb14_linear_head.pth with dinov2-base)"
        )
    head = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
    head.load_state_dict(state)
    return head


class DINOv2ClassLogitVerifier:
    name = "DINOv2 class logit"
    needs_condition = True

    def __init__(self, model: DINOv2Classifier, class_names: Sequence[str], image_size: int = 224) -> None:
        if model.head.out_features != len(class_names):
            raise VerifierConfigError(
                f"the head has {model.head.out_features} classes but {len(class_names)} class names were given"
            )
        self._model = model.eval().requires_grad_(False)
        self.class_names = list(class_names)
        self.image_size = image_size

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        index = class_index(condition, self.class_names)
        parameter = next(self._model.parameters())
        pixels = normalize(resize_and_center_crop(images, self.image_size), IMAGENET_MEAN, IMAGENET_STD)
        return self._model(pixels.to(parameter.device, parameter.dtype))[:, index].float().cpu()


def load_dinov2_verifier(backbone_folder: Path, head_path: Path, class_names: Sequence[str]) -> DINOv2ClassLogitVerifier:
    from transformers import Dinov2Model

    if not (backbone_folder / "config.json").is_file():
        raise VerifierConfigError(f"{backbone_folder} is not a transformers DINOv2 folder (no config.json)")
    backbone = Dinov2Model.from_pretrained(str(backbone_folder), local_files_only=True)
    head = load_linear_head(head_path, backbone.config.hidden_size)
    image_size = 224 if backbone.config.image_size >= 224 else backbone.config.image_size
    return DINOv2ClassLogitVerifier(DINOv2Classifier(backbone, head), class_names, image_size)
