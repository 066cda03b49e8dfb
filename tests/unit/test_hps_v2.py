import re
from pathlib import Path

import pytest
import torch

from headless.tiny_models import HPS_V2_CHECKPOINT, TINY_HPS_V2_MODEL_CONFIG, write_tiny_hps_v2
from verifiers import VerifierConditionError, VerifierConfigError, load_hps_v2_verifier
from verifiers.hps_v2 import OPENAI_MEAN, OPENAI_STD, RELEASED_ARCHITECTURE, architecture_of
from verifiers.image_preprocessing import normalize, resize_and_center_crop
from verifiers.official_preprocessing import longest_side_padded_pixels

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hps_v2_reference.pt"
HPSV2_VIT_H_14 = {  # hpsv2 1.2.0's hpsv2/src/open_clip/model_configs/ViT-H-14.json, the architecture it was trained in
    "embed_dim": 1024,
    "vision_cfg": {"image_size": 224, "layers": 32, "width": 1280, "head_width": 80, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1024, "heads": 16, "layers": 24},
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return write_tiny_hps_v2(tmp_path_factory.mktemp("hps") / "HPSv2.1")


@pytest.fixture(scope="module")
def verifier(tiny_folder):
    return load_hps_v2_verifier(tiny_folder / HPS_V2_CHECKPOINT)


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(str(FIXTURE), weights_only=True)


def uint8_images(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (*shape, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def resized_images(reference: dict) -> list[torch.Tensor]:
    return [uint8_images(shape, reference["image_seed"] + 1 + index)
            for index, shape in enumerate(reference["resized_shapes"])]


def test_open_clips_vit_h_14_is_the_architecture_hpsv2_was_trained_in():
    import open_clip

    assert open_clip.get_model_config(RELEASED_ARCHITECTURE) == HPSV2_VIT_H_14


def test_the_architecture_is_vit_h_14_unless_a_config_beside_the_checkpoint_names_another(tiny_folder, tmp_path):
    assert architecture_of(tmp_path / HPS_V2_CHECKPOINT) == "ViT-H-14"
    assert architecture_of(tiny_folder / HPS_V2_CHECKPOINT) == f"local-dir:{tiny_folder}"


def test_the_scores_are_the_official_implementations(tmp_path, reference):
    """Scores of the official hpsv2 code (1.2.0) for the same tiny checkpoint; see the fixture's maker."""
    folder = write_tiny_hps_v2(tmp_path / "parity", seed=reference["writer_seed"])
    verifier = load_hps_v2_verifier(folder / HPS_V2_CHECKPOINT)
    assert torch.equal(verifier.tokenizer(reference["prompts"]), reference["tokens"])
    size = reference["image_size"]
    square = uint8_images((reference["image_count"], size, size), reference["image_seed"])
    ours = torch.stack([verifier.score(square.float() / 255, prompt) for prompt in reference["prompts"]])
    torch.testing.assert_close(ours.double(), reference["scores"], rtol=0, atol=1e-6)
    # Resized (down and up) and padded: hpsv2 resizes the float tensor with torchvision's antialiased bicubic, as
    # the verifier does, so these agree as closely.
    resized = resized_images(reference)
    ours = torch.stack([torch.cat([verifier.score(image[None].float() / 255, prompt) for image in resized])
                        for prompt in reference["prompts"]])
    torch.testing.assert_close(ours.double(), reference["resized_scores"], rtol=0, atol=1e-6)


def test_a_centre_crop_would_not_match_the_official_scores(tmp_path, reference):
    """The padding matters: the usual CLIP crop of the same images scores measurably differently."""
    verifier = load_hps_v2_verifier(write_tiny_hps_v2(tmp_path / "crop", seed=reference["writer_seed"]) / HPS_V2_CHECKPOINT)
    verifier.pixels = lambda images: normalize(resize_and_center_crop(images, 224), OPENAI_MEAN, OPENAI_STD)
    prompt = reference["prompts"][0]
    cropped = torch.cat([verifier.score(image[None].float() / 255, prompt) for image in resized_images(reference)])
    assert (cropped.double() - reference["resized_scores"][0]).abs().max() > 1e-3


def test_the_longest_side_is_resized_and_the_rest_padded_with_black():
    white = torch.ones(1, 100, 50, 3)
    pixels = longest_side_padded_pixels(white, 224, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert pixels.shape == (1, 3, 224, 224)
    assert torch.all(pixels[..., :56] == 0) and torch.all(pixels[..., 168:] == 0)  # 112 px wide, 56 each side
    torch.testing.assert_close(pixels[..., 56:168], torch.ones(1, 3, 224, 112))
    odd = longest_side_padded_pixels(torch.ones(1, 224, 221, 3), 224, (0.0,) * 3, (1.0,) * 3)
    assert torch.all(odd[..., :1] == 0) and torch.all(odd[..., 222:] == 0) and torch.all(odd[..., 1:222] == 1)


def test_scores_are_one_float_per_image_and_deterministic(verifier):
    batch = torch.rand(3, 64, 48, 3, generator=torch.Generator().manual_seed(0))
    scores = verifier.score(batch, "a red apple")
    assert scores.shape == (3,) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
    assert torch.equal(scores, verifier.score(batch, "a red apple"))
    assert not torch.allclose(scores, verifier.score(batch, "a blue house"))


def test_a_batch_of_four_scores_as_four_batches_of_one(verifier):
    batch = torch.rand(4, 80, 120, 3, generator=torch.Generator().manual_seed(1))
    alone = torch.cat([verifier.score(batch[i : i + 1], "a photo of a cat") for i in range(4)])
    torch.testing.assert_close(verifier.score(batch, "a photo of a cat"), alone, rtol=1e-5, atol=1e-6)


def test_large_batches_are_scored_in_chunks(tiny_folder):
    verifier = load_hps_v2_verifier(tiny_folder / HPS_V2_CHECKPOINT)
    batch = torch.rand(5, 32, 32, 3, generator=torch.Generator().manual_seed(2))
    whole = verifier.score(batch, "a cat")
    seen: list[int] = []
    verifier.module.visual.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[0]))
    verifier.chunk = 2
    torch.testing.assert_close(verifier.score(batch, "a cat"), whole, rtol=1e-5, atol=1e-6)
    assert seen == [2, 2, 1]


def test_the_causal_mask_is_open_clips_own(verifier):
    import open_clip

    assert torch.equal(verifier.module.attn_mask, open_clip.CLIP(**TINY_HPS_V2_MODEL_CONFIG).attn_mask)


def test_an_empty_prompt_is_refused(verifier):
    for prompt in ("", "   ", None):
        with pytest.raises(VerifierConditionError, match="prompt is empty"):
            verifier.score(torch.rand(1, 32, 32, 3), prompt)


def test_a_checkpoint_that_is_not_hps_is_refused(tmp_path):
    torch.save({"layers.0.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(VerifierConfigError, match="other.pt is not an HPSv2 checkpoint.*found \\['layers.0.weight'\\]"):
        load_hps_v2_verifier(tmp_path / "other.pt")


def test_a_pickle_that_needs_code_is_not_run(tmp_path):
    torch.save({"state_dict": {"visual.proj": torch.zeros(2, 2)}, "args": Path("x")}, tmp_path / "HPS_v2.1_compressed.pt")
    with pytest.raises(VerifierConfigError, match="cannot be read as a plain tensor checkpoint"):
        load_hps_v2_verifier(tmp_path / "HPS_v2.1_compressed.pt")


def test_a_checkpoint_of_another_architecture_is_refused(tiny_folder, tmp_path):
    (tmp_path / HPS_V2_CHECKPOINT).write_bytes((tiny_folder / HPS_V2_CHECKPOINT).read_bytes())  # no config: ViT-H-14
    expected = "does not fit open_clip's ViT-H-14: missing .*shapes " + re.escape("['ln_final.bias (32,) (expected (1024,))'")
    with pytest.raises(VerifierConfigError, match=expected):
        load_hps_v2_verifier(tmp_path / HPS_V2_CHECKPOINT)


def test_a_checkpoint_with_a_stray_key_is_refused(tiny_folder, tmp_path):
    state = torch.load(str(tiny_folder / HPS_V2_CHECKPOINT), weights_only=True)
    state["state_dict"]["score_predictor.weight"] = torch.zeros(1)
    write_tiny_hps_v2(tmp_path)
    torch.save(state, tmp_path / HPS_V2_CHECKPOINT)
    with pytest.raises(VerifierConfigError, match="unexpected \\['score_predictor.weight'\\]"):
        load_hps_v2_verifier(tmp_path / HPS_V2_CHECKPOINT)
