import pytest
import torch

from headless.tiny_models import write_tiny_aesthetic_head, write_tiny_open_clip
from verifiers import VerifierConfigError, load_aesthetic_verifier
from verifiers.aesthetic import AestheticHead

RELEASED_LAYOUT = {  # sac+logos+ava1-l14-linearMSE.pth, on CLIP ViT-L/14's 768-d embeddings
    "layers.0.weight": (1024, 768), "layers.0.bias": (1024,),
    "layers.2.weight": (128, 1024), "layers.2.bias": (128,),
    "layers.4.weight": (64, 128), "layers.4.bias": (64,),
    "layers.6.weight": (16, 64), "layers.6.bias": (16,),
    "layers.7.weight": (1, 16), "layers.7.bias": (1,),
}


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verifiers")
    return load_aesthetic_verifier(write_tiny_aesthetic_head(folder / "head.pth"), write_tiny_open_clip(folder / "clip"))


def images(count: int, seed: int) -> torch.Tensor:
    return torch.rand((count, 48, 40, 3), generator=torch.Generator().manual_seed(seed))


def test_the_head_has_the_released_checkpoints_layout_key_by_key():
    state = AestheticHead(768).state_dict()
    assert {key: tuple(value.shape) for key, value in state.items()} == RELEASED_LAYOUT


def test_scores_are_one_float_per_image_and_deterministic(verifier):
    batch = images(3, 0)
    scores = verifier.score(batch, None)
    assert scores.shape == (3,) and torch.isfinite(scores).all()
    assert torch.equal(scores, verifier.score(batch, None))


def test_a_score_does_not_depend_on_the_rest_of_the_batch(verifier):
    batch = images(4, 1)
    alone = torch.cat([verifier.score(batch[i : i + 1], None) for i in range(4)])
    torch.testing.assert_close(verifier.score(batch, None), alone, rtol=1e-5, atol=1e-5)


def test_a_file_that_is_not_a_head_is_refused(tmp_path):
    torch.save({"fc.weight": torch.zeros(1, 32)}, tmp_path / "other.pth")
    with pytest.raises(VerifierConfigError, match="not an aesthetic predictor head"):
        load_aesthetic_verifier(tmp_path / "other.pth", write_tiny_open_clip(tmp_path / "clip"))


def test_a_head_for_another_clip_is_refused_when_scoring(tmp_path):
    head = write_tiny_aesthetic_head(tmp_path / "head768.pth", embedding_size=768)
    verifier = load_aesthetic_verifier(head, write_tiny_open_clip(tmp_path / "clip"))
    with pytest.raises(VerifierConfigError, match="ViT-L/14"):
        verifier.score(images(1, 0), None)
