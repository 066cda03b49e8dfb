import subprocess
import sys
from pathlib import Path

import pytest
import torch

from headless.tiny_models import write_tiny_open_clip
from verifiers import (
    VerifierConditionError,
    VerifierConfigError,
    list_open_clip_weights,
    load_clip_score_verifier,
)
from verifiers.image_preprocessing import resize_and_center_crop
from verifiers.open_clip_loading import guess_architecture

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory) -> Path:
    return write_tiny_open_clip(tmp_path_factory.mktemp("verifiers") / "tiny-clip")


@pytest.fixture(scope="module")
def verifier(tiny_clip_folder):
    return load_clip_score_verifier(tiny_clip_folder)


def images(count: int, seed: int = 0, size: tuple[int, int] = (40, 48)) -> torch.Tensor:
    return torch.rand((count, *size, 3), generator=torch.Generator().manual_seed(seed))


def test_scores_one_float_per_image(verifier):
    scores = verifier.score(images(3), "a photo of a cat")
    assert scores.shape == (3,) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all() and (scores.abs() <= 100).all()


def test_scores_are_deterministic(verifier):
    batch = images(4)
    assert torch.equal(verifier.score(batch, "a dog"), verifier.score(batch, "a dog"))


def test_a_score_does_not_depend_on_the_rest_of_the_batch(verifier):
    batch = images(4, seed=1)
    together = verifier.score(batch, "a red apple")
    alone = torch.cat([verifier.score(batch[i : i + 1], "a red apple") for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-4)


def test_scores_depend_on_the_text(verifier):
    batch = images(4, seed=2)
    assert not torch.allclose(verifier.score(batch, "a red apple"), verifier.score(batch, "a blue car"))


def test_the_loaded_weights_are_the_saved_weights(tiny_clip_folder, verifier):
    import safetensors.torch

    saved = safetensors.torch.load_file(str(tiny_clip_folder / "open_clip_model.safetensors"))
    loaded = verifier.module.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[key], loaded[key]) for key in saved)


@pytest.mark.parametrize("condition", [None, "", "   "])
def test_an_empty_prompt_is_refused(verifier, condition):
    with pytest.raises(VerifierConditionError, match="prompt"):
        verifier.score(images(1), condition)


def test_preprocessing_resizes_the_short_side_and_centre_crops():
    wide = torch.zeros((1, 20, 60, 3))
    wide[:, :, 20:40] = 1.0  # a white centre third
    pixels = resize_and_center_crop(wide, 10)
    assert pixels.shape == (1, 3, 10, 10)
    assert pixels.mean() == pytest.approx(1.0, abs=0.05)


def test_weights_listing_finds_config_folders_and_checkpoint_files():
    files = ["nested/ViT-B-32-openai.safetensors", "notes.txt", "tiny/open_clip_config.json",
             "tiny/open_clip_model.safetensors", "open_clip_config.json", "root.pt"]
    assert list_open_clip_weights(files) == ["nested/ViT-B-32-openai.safetensors", "tiny"]


def test_architecture_is_guessed_from_the_file_name():
    assert guess_architecture("open_clip_ViT-L-14-laion2b.safetensors") == "ViT-L-14"
    assert guess_architecture("vit_b_32.bin") == "ViT-B-32"
    assert guess_architecture("my_weights.safetensors") is None


def test_a_file_of_unknown_architecture_is_refused_with_the_fix(tmp_path):
    weights = tmp_path / "my_weights.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(VerifierConfigError, match="architecture input"):
        load_clip_score_verifier(weights)


def test_a_folder_without_config_is_refused(tmp_path):
    with pytest.raises(VerifierConfigError, match="open_clip_config.json"):
        load_clip_score_verifier(tmp_path)


def test_the_libraries_do_not_import_comfyui():
    code = (
        "import sys, search, verifiers, verifiers.open_clip_loading;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('comfy', 'nodes', 'folder_paths', 'comfy_api')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
