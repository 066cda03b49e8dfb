"""The LAION improved aesthetic predictor: a linear MLP on L2-normalised CLIP ViT-L/14 image embeddings.

The released head (``sac+logos+ava1-l14-linearMSE.pth``) is a ``torch.nn.Sequential`` named ``layers``:
Linear(768, 1024), Dropout, Linear(1024, 128), Dropout, Linear(128, 64), Dropout, Linear(64, 16),
Linear(16, 1), with no activations; its state dict keys are therefore ``layers.{0,2,4,6,7}.{weight,bias}``.
Scores are on the AVA rating scale (about 1 to 10, higher is better).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from .errors import VerifierConfigError
from .image_preprocessing import normalize, resize_and_center_crop

HEAD_LINEAR_LAYERS = (0, 2, 4, 6, 7)
HEAD_WIDTHS = (1024, 128, 64, 16, 1)
HEAD_DROPOUTS = (0.2, 0.2, 0.1)


class AestheticHead(torch.nn.Module):
    """The predictor's MLP, laid out exactly as the released checkpoint (a ``layers`` Sequential)."""

    def __init__(self, embedding_size: int) -> None:
        super().__init__()
        widths = (embedding_size, *HEAD_WIDTHS)
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(widths[0], widths[1]), torch.nn.Dropout(HEAD_DROPOUTS[0]),
            torch.nn.Linear(widths[1], widths[2]), torch.nn.Dropout(HEAD_DROPOUTS[1]),
            torch.nn.Linear(widths[2], widths[3]), torch.nn.Dropout(HEAD_DROPOUTS[2]),
            torch.nn.Linear(widths[3], widths[4]),
            torch.nn.Linear(widths[4], widths[5]),
        )

    @property
    def embedding_size(self) -> int:
        return self.layers[0].in_features

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)


def load_head_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        import safetensors.torch

        state = safetensors.torch.load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    expected = {f"layers.{i}.{kind}" for i in HEAD_LINEAR_LAYERS for kind in ("weight", "bias")}
    if set(state) != expected:
        raise VerifierConfigError(
            f"{path.name} is not an aesthetic predictor head: expected the keys {sorted(expected)}, "
            f"found {sorted(state)[:6]}..."
        )
    return state


class AestheticModule(torch.nn.Module):
    """CLIP image tower + aesthetic head, one module so the host can move both together."""

    def __init__(self, clip: torch.nn.Module, head: AestheticHead) -> None:
        super().__init__()
        self.clip = clip
        self.head = head


class AestheticVerifier:
    """The head's rating of each image; needs no condition."""

    name = "aesthetic score"
    needs_condition = False

    def __init__(self, clip: torch.nn.Module, head_state: dict[str, torch.Tensor], image_size: int,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        head = AestheticHead(head_state["layers.0.weight"].shape[1])
        head.load_state_dict(head_state)
        self._module = AestheticModule(clip, head).eval().requires_grad_(False)
        self.image_size = image_size
        self.mean = tuple(mean)
        self.std = tuple(std)

    @property
    def module(self) -> torch.nn.Module:
        return self._module

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        parameter = next(self._module.parameters())
        pixels = normalize(resize_and_center_crop(images, self.image_size), self.mean, self.std)
        embeddings = self._module.clip.encode_image(pixels.to(parameter.device, parameter.dtype))
        if embeddings.shape[-1] != self._module.head.embedding_size:
            raise VerifierConfigError(
                f"the CLIP model gives {embeddings.shape[-1]}-d embeddings but the aesthetic head expects "
                f"{self._module.head.embedding_size} (the released head needs CLIP ViT-L/14)"
            )
        normalised = F.normalize(embeddings.float(), dim=-1).to(parameter.dtype)
        return self._module.head(normalised)[:, 0].float().cpu()
