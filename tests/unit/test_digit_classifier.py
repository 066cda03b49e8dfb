import pytest
import torch

from verifiers import VerifierConditionError, VerifierConfigError
from verifiers.digit_classifier import (
    DigitClassifier,
    DigitClassLogitVerifier,
    classifier_input,
    digit_self_supervised_verifier,
    load_digit_classifier,
    save_digit_classifier,
)


@pytest.fixture
def classifier_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "classifier.safetensors"
    save_digit_classifier(DigitClassifier(width=8, feature_size=16), path)
    return path


def images(count: int, seed: int, size: int = 16) -> torch.Tensor:
    return torch.rand((count, size, size, 3), generator=torch.Generator().manual_seed(seed))


def test_the_file_keeps_its_width_and_loads_the_same_weights(classifier_file):
    loaded = load_digit_classifier(classifier_file)
    torch.manual_seed(0)
    original = DigitClassifier(width=8, feature_size=16)
    assert loaded.width == 8 and loaded.feature_size == 16
    for key, value in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_a_file_without_the_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(VerifierConfigError, match="not a noise-search digit classifier"):
        load_digit_classifier(tmp_path / "other.safetensors")


def test_the_class_logit_is_the_classifiers_logit_per_image_batch_invariant(classifier_file):
    classifier = load_digit_classifier(classifier_file)
    verifier = DigitClassLogitVerifier(classifier)
    batch = images(4, 1)
    scores = verifier.score(batch, "7")
    assert scores.shape == (4,)
    torch.testing.assert_close(scores, classifier(classifier_input(batch))[:, 7].detach())
    alone = torch.cat([verifier.score(batch[i : i + 1], "7") for i in range(4)])
    torch.testing.assert_close(scores, alone, rtol=1e-5, atol=1e-5)
    assert torch.equal(scores, verifier.score(batch, "7"))


def test_larger_images_are_reduced_to_the_classifiers_16_pixels(classifier_file):
    verifier = DigitClassLogitVerifier(load_digit_classifier(classifier_file))
    assert verifier.score(images(2, 2, size=64), "1").shape == (2,)


@pytest.mark.parametrize("condition", ["", "12", "seven"])
def test_a_condition_that_is_not_a_digit_is_refused(classifier_file, condition):
    verifier = DigitClassLogitVerifier(load_digit_classifier(classifier_file))
    with pytest.raises(VerifierConditionError):
        verifier.score(images(1, 0), condition)


def test_the_self_supervised_verifier_compares_classifier_features_of_final_and_probe(classifier_file):
    classifier = load_digit_classifier(classifier_file)
    verifier = digit_self_supervised_verifier(classifier, probe_level=0.4)
    final, probe = images(3, 3), images(3, 4)
    scores = verifier.score(final, None, probe)
    features = [torch.nn.functional.normalize(classifier.features(classifier_input(x)), dim=-1) for x in (final, probe)]
    torch.testing.assert_close(scores, (features[0] * features[1]).sum(dim=-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(verifier.score(final, None, final), torch.ones(3), rtol=1e-5, atol=1e-5)
