"""scikit-learn's bundled digits as the demo model's data: 16×16 dark ink on white, in -1..1.

The 1,797 digits are split once, in a fixed order (``SPLIT_SEED``, whatever seed the models train
with), into three disjoint parts:

- ``reference`` (20%): held out from everything; the study's real digits and the evaluation
  classifier's reference statistics, and where the classifiers' accuracies are measured;
- ``verifier_train`` and ``evaluator_train`` (40% each): the supervised verifier and the evaluation
  classifier learn from different digits, so the evaluator never judges samples by what the verifier
  was taught.

The diffusion model trains on both training parts (``diffusion_train``), never on the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGE_SIZE = 16
NUM_CLASSES = 10
REFERENCE_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class DigitSplit:
    images: torch.Tensor
    """``[N, 1, 16, 16]`` in -1..1 (-1 = ink, 1 = paper)."""
    labels: torch.Tensor
    """``[N]`` int64 digits."""
    indices: torch.Tensor
    """``[N]`` rows of scikit-learn's ``load_digits()`` these digits are."""


@dataclass(frozen=True)
class DigitParts:
    verifier_train: DigitSplit
    evaluator_train: DigitSplit
    reference: DigitSplit
    diffusion_train: DigitSplit
    """``verifier_train`` and ``evaluator_train`` together."""


def _bundled_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    ink = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(ink, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return (1.0 - 2.0 * images).clamp(-1.0, 1.0), torch.tensor(data.target, dtype=torch.int64)


def load_digit_parts() -> DigitParts:
    """The fixed three-way split (the same on every call and machine)."""
    images, labels = _bundled_digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    reference_count = int(len(labels) * REFERENCE_FRACTION)
    reference, training = order[:reference_count], order[reference_count:]

    def part(rows: torch.Tensor) -> DigitSplit:
        return DigitSplit(images[rows], labels[rows], rows)

    return DigitParts(
        verifier_train=part(training[0::2]), evaluator_train=part(training[1::2]),
        reference=part(reference), diffusion_train=part(training),
    )


def to_rgb_unit(images: torch.Tensor) -> torch.Tensor:
    """``[N, 1, H, W]`` in -1..1 to ComfyUI's IMAGE layout ``[N, H, W, 3]`` in 0..1."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0).repeat(1, 3, 1, 1).permute(0, 2, 3, 1)
