"""scikit-learn's bundled digits as the demo model's training data: 16×16 dark ink on white, in -1..1.

The split is fixed by a seed: the diffusion model and both classifiers train on ``train``; ``held_out``
gives the evaluation classifier's reference statistics and the classifiers' accuracies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGE_SIZE = 16
NUM_CLASSES = 10
HELD_OUT_FRACTION = 0.2


@dataclass(frozen=True)
class DigitSplit:
    images: torch.Tensor
    """``[N, 1, 16, 16]`` in -1..1 (-1 = ink, 1 = paper)."""
    labels: torch.Tensor
    """``[N]`` int64 digits."""


def load_digits_split(seed: int = 0) -> tuple[DigitSplit, DigitSplit]:
    """(train, held_out): a stratified-free random split of the 1,797 digits, the same for a seed."""
    from sklearn.datasets import load_digits

    data = load_digits()
    ink = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(ink, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    images = (1.0 - 2.0 * images).clamp(-1.0, 1.0)
    labels = torch.tensor(data.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    held_out_count = int(len(labels) * HELD_OUT_FRACTION)
    held_out, train = order[:held_out_count], order[held_out_count:]
    return DigitSplit(images[train], labels[train]), DigitSplit(images[held_out], labels[held_out])


def to_rgb_unit(images: torch.Tensor) -> torch.Tensor:
    """``[N, 1, H, W]`` in -1..1 to ComfyUI's IMAGE layout ``[N, H, W, 3]`` in 0..1."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0).repeat(1, 3, 1, 1).permute(0, 2, 3, 1)
