"""The demo's digits split into verifier-train, evaluator-train and a held-out reference, fixed and disjoint."""

from __future__ import annotations

import json

import torch

from demo_model import WEIGHTS_DIR
from demo_model.digits import load_digit_parts


def test_the_three_parts_are_disjoint_and_cover_every_bundled_digit():
    parts = load_digit_parts()
    verifier, evaluator, reference = (set(p.indices.tolist()) for p in (parts.verifier_train, parts.evaluator_train,
                                                                         parts.reference))
    assert not verifier & evaluator and not verifier & reference and not evaluator & reference
    assert len(verifier | evaluator | reference) == 1797
    assert set(parts.diffusion_train.indices.tolist()) == verifier | evaluator  # the diffusion model never sees the reference
    assert len(reference) == 359 and len(verifier) == len(evaluator) == 719


def test_the_split_is_the_same_on_every_call_and_its_parts_hold_their_digits():
    first, second = load_digit_parts(), load_digit_parts()
    for name in ("verifier_train", "evaluator_train", "reference", "diffusion_train"):
        assert torch.equal(getattr(first, name).indices, getattr(second, name).indices), name
    from sklearn.datasets import load_digits

    targets = torch.tensor(load_digits().target)
    assert torch.equal(first.reference.labels, targets[first.reference.indices])
    assert set(first.reference.labels.tolist()) == set(range(10))


def test_the_committed_weights_report_the_split_they_were_trained_on():
    report = json.loads((WEIGHTS_DIR / "training.json").read_text())
    parts = load_digit_parts()
    assert report["verifier_train_images"] == len(parts.verifier_train.labels)
    assert report["evaluator_train_images"] == len(parts.evaluator_train.labels)
    assert report["reference_images"] == len(parts.reference.labels)
    assert report["diffusion_train_images"] == len(parts.diffusion_train.labels)


def test_each_network_trains_on_its_own_part_of_the_split(tmp_path, monkeypatch):
    """The verifier and the evaluator learn from disjoint digits, the UNet from both, none from the reference."""
    import demo_model.train as training
    from verifiers.digit_classifier import DigitClassifier

    seen: dict[str, tuple[set[int], ...]] = {}

    def train_classifier(train, reference, width, epochs, seed):
        seen[f"classifier {width}"] = (set(train.indices.tolist()), set(reference.indices.tolist()))
        return DigitClassifier(width), 0.5

    def train_unet(train, steps, batch_size, seed):
        seen["unet"] = (set(train.indices.tolist()),)
        return torch.nn.Linear(1, 1), [0.0]

    monkeypatch.setattr(training, "train_classifier", train_classifier)
    monkeypatch.setattr(training, "train_unet", train_unet)
    parts = load_digit_parts()
    figures = training.train_and_save(parts, tmp_path, seed=0, steps=1, batch_size=1, classifier_epochs=1)
    (verifier, verifier_reference), (evaluator, evaluator_reference) = seen["classifier 16"], seen["classifier 32"]
    reference = set(parts.reference.indices.tolist())
    assert verifier == set(parts.verifier_train.indices.tolist()) and evaluator == set(parts.evaluator_train.indices.tolist())
    assert verifier_reference == evaluator_reference == reference  # accuracies measured on the held-out reference
    assert seen["unet"] == (verifier | evaluator,)
    assert (figures["verifier_train_images"], figures["evaluator_train_images"], figures["reference_images"]) == (719, 719, 359)
