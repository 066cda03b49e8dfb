"""The evaluation network's metrics, in miniature: IS-like, FID-like, precision/recall, accuracy.

As the paper's Inception Score, FID and precision/recall, computed on the demo's evaluation
classifier (never the verifier) against features of held-out real digits.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg


def inception_like_score(logits: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when each sample is confidently one class and the classes vary."""
    probabilities = logits.double().softmax(dim=1)
    marginal = probabilities.mean(dim=0, keepdim=True)
    kl = (probabilities * (probabilities.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(dim=1)
    return float(kl.mean().exp())


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """The Fréchet distance of Gaussians fitted to two feature sets (FID's formula)."""
    a, b = features_a.double().numpy(), features_b.double().numpy()
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * root))


def _knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    distances = torch.cdist(features.double(), features.double())
    return distances.kthvalue(k + 1, dim=1).values  # +1: each point is its own nearest neighbour


def precision_recall(real: torch.Tensor, generated: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision/recall (Kynkäänniemi et al. 2019) with k-NN balls on each set's features.

    Precision: share of generated samples inside the real manifold (fidelity). Recall: share of real
    samples inside the generated manifold (diversity): a verifier that is hacked lowers it.
    """
    real, generated = real.double(), generated.double()
    real_radii, generated_radii = _knn_radii(real, k), _knn_radii(generated, k)
    precision = (torch.cdist(generated, real) <= real_radii.unsqueeze(0)).any(dim=1).double().mean()
    recall = (torch.cdist(real, generated) <= generated_radii.unsqueeze(0)).any(dim=1).double().mean()
    return float(precision), float(recall)


def class_accuracy(logits: torch.Tensor, requested: torch.Tensor) -> float:
    """Share of samples the evaluation network classifies as the class they were asked to be."""
    return float((logits.argmax(dim=1) == requested).double().mean())
