import math

import pytest
import torch

from bench.metrics import class_accuracy, frechet_distance, inception_like_score, precision_recall


def test_inception_like_score_counts_confident_distinct_classes():
    confident = torch.eye(5) * 50.0
    assert inception_like_score(confident) == pytest.approx(5.0, rel=1e-6)
    assert inception_like_score(confident[[0, 0, 0, 0, 0]]) == pytest.approx(1.0, rel=1e-6)
    assert inception_like_score(torch.zeros(4, 5)) == pytest.approx(1.0)


def test_frechet_distance_is_zero_for_one_set_and_the_squared_shift_for_a_moved_one():
    features = torch.randn(400, 6, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([3.0, 0, 0, 4.0, 0, 0])
    assert frechet_distance(features, features + shift) == pytest.approx(25.0, rel=1e-6)


def test_precision_and_recall_tell_fidelity_from_diversity():
    generator = torch.Generator().manual_seed(1)
    real = torch.randn(300, 2, generator=generator)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    collapsed = real[:10] * 0.01  # all near the origin: real-looking but no variety
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.2
    far = real + 100.0
    assert precision_recall(real, far) == (0.0, 0.0)


def test_class_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0]])
    assert math.isclose(class_accuracy(logits, torch.tensor([0, 1, 1])), 2 / 3)
