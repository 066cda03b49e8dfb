import pytest
import torch

from headless.tiny_models import write_tiny_open_clip
from verifiers import VerifierConditionError, imagenet_1k_classes, load_zero_shot_verifier
from verifiers.zero_shot import class_index

CLASSES = ["tabby cat", "golden retriever", "red apple"]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return write_tiny_open_clip(tmp_path_factory.mktemp("v") / "clip")


@pytest.fixture(scope="module")
def verifier(clip_folder):
    return load_zero_shot_verifier(clip_folder, class_names=CLASSES)


def images(count: int, seed: int) -> torch.Tensor:
    return torch.rand((count, 36, 36, 3), generator=torch.Generator().manual_seed(seed))


def test_imagenet_names_ship_with_the_pack():
    names = imagenet_1k_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[207] == "Golden Retriever"


@pytest.mark.parametrize("condition, index", [("2", 2), ("Red Apple", 2), ("  tabby cat ", 0)])
def test_a_class_is_named_by_index_or_name(condition, index):
    assert class_index(condition, CLASSES) == index


@pytest.mark.parametrize("condition, message", [("", "empty"), ("7", "outside the 3 classes"),
                                                ("golden retreiver", "did you mean 'golden retriever'")])
def test_a_condition_that_names_no_class_is_refused_with_a_hint(condition, message):
    with pytest.raises(VerifierConditionError, match=message):
        class_index(condition, CLASSES)


def test_scores_are_per_image_class_logits(verifier):
    batch = images(4, 0)
    scores = verifier.score(batch, "red apple")
    assert scores.shape == (4,) and torch.equal(scores, verifier.score(batch, "2"))
    alone = torch.cat([verifier.score(batch[i : i + 1], "red apple") for i in range(4)])
    torch.testing.assert_close(scores, alone, rtol=1e-5, atol=1e-4)
    assert not torch.allclose(scores, verifier.score(batch, "tabby cat"))


def test_no_softmax_a_class_logit_ignores_the_other_classes(clip_folder, verifier):
    wider = load_zero_shot_verifier(clip_folder, class_names=[*CLASSES, "lighthouse", "violin"])
    batch = images(3, 1)
    torch.testing.assert_close(verifier.score(batch, "golden retriever"), wider.score(batch, "golden retriever"))
