import pytest
import torch

from headless.tiny_models import write_tiny_dinov2
from verifiers import VerifierConditionError, VerifierConfigError, load_dinov2_verifier
from verifiers.dinov2_classifier import DINOv2Classifier

CLASSES = ["tench", "goldfish", "great white shark"]
RELEASED_VITB14_HEAD = {"weight": (1000, 1536), "bias": (1000,)}  # dinov2_vitb14_linear_head.pth


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("dinov2")
    return write_tiny_dinov2(root / "backbone", root / "head.pth", classes=len(CLASSES))


@pytest.fixture(scope="module")
def verifier(files):
    return load_dinov2_verifier(*files, CLASSES)


def images(count: int, seed: int) -> torch.Tensor:
    return torch.rand((count, 40, 40, 3), generator=torch.Generator().manual_seed(seed))


def test_the_head_file_has_the_released_layout(files):
    state = torch.load(files[1], weights_only=True)
    assert set(state) == set(RELEASED_VITB14_HEAD)
    assert state["weight"].shape[1] == 2 * 32  # 2 x hidden, as 1536 = 2 x 768 for ViT-B/14


def test_scores_are_the_class_logits_per_image(verifier):
    batch = images(4, 0)
    scores = verifier.score(batch, "goldfish")
    assert scores.shape == (4,) and torch.equal(scores, verifier.score(batch, "1"))
    alone = torch.cat([verifier.score(batch[i : i + 1], "goldfish") for i in range(4)])
    torch.testing.assert_close(scores, alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(scores, verifier.score(batch, "tench"))


def test_the_logit_is_the_heads_output_for_that_class(verifier):
    model: DINOv2Classifier = verifier.module
    pixels = torch.rand((2, 3, 32, 32))
    tokens = model.backbone(pixel_values=pixels).last_hidden_state
    expected = model.head(torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=-1))[:, 2]
    torch.testing.assert_close(model(pixels)[:, 2], expected)


def test_mismatches_are_refused(files, tmp_path):
    with pytest.raises(VerifierConfigError, match="classes"):
        load_dinov2_verifier(*files, ["only one"])
    torch.save({"weight": torch.zeros(3, 10), "bias": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(VerifierConfigError, match="2 × 32"):
        load_dinov2_verifier(files[0], tmp_path / "other.pth", CLASSES)
    with pytest.raises(VerifierConditionError):
        load_dinov2_verifier(*files, CLASSES).score(images(1, 0), "lighthouse")
