"""PickScore against a direct transformers computation (CLIPProcessor + CLIPModel), as the official inference code does it."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from headless.tiny_models import write_tiny_pick_score
from verifiers import VerifierConditionError, VerifierConfigError, load_pick_score_verifier
from verifiers.pick_score import read_clip_processor_settings

PROMPTS = ("a photo of a cat", "A RED apple on the   table!", " ".join(["a small dog in the house"] * 20))


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pick_score")
    return write_tiny_pick_score(folder / "PickScore_v1", folder / "CLIP-ViT-H-14-processor")


@pytest.fixture(scope="module")
def verifier(tiny_folders):
    return load_pick_score_verifier(*tiny_folders)


@pytest.fixture(scope="module")
def official(tiny_folders):
    """The official inference code's computation (PickScore's README), on transformers' own processor and model."""
    from transformers import CLIPModel, CLIPProcessor

    model_folder, processor_folder = tiny_folders
    processor = CLIPProcessor.from_pretrained(str(processor_folder))
    model = CLIPModel.from_pretrained(str(model_folder)).eval()

    def features(output):  # a tensor in transformers 4, an output with the projected pooler_output in 5
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    def scores(images: list, prompt: str, **image_options) -> torch.Tensor:
        image_inputs = processor(images=images, return_tensors="pt", **image_options)
        text_inputs = processor(text=prompt, padding=True, truncation=True, max_length=77, return_tensors="pt")
        with torch.no_grad():
            image_embs = features(model.get_image_features(pixel_values=image_inputs.pixel_values))
            image_embs = image_embs / torch.norm(image_embs, dim=-1, keepdim=True)
            text_embs = features(model.get_text_features(**text_inputs))
            text_embs = text_embs / torch.norm(text_embs, dim=-1, keepdim=True)
            return model.logit_scale.exp() * (text_embs @ image_embs.T)[0]

    scores.processor = processor
    return scores


def uint8_images(count: int, height: int, width: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (count, height, width, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def smooth_uint8_image(height: int, width: int, seed: int) -> torch.Tensor:
    """A photo-like image (no pixel-level noise): a 6 x 5 grid of random colours, bilinearly enlarged."""
    coarse = torch.rand(1, 3, 6, 5, generator=torch.Generator().manual_seed(seed))
    image = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
    return (image.permute(1, 2, 0) * 255).round().to(torch.uint8)


def as_pil(images: torch.Tensor) -> list[Image.Image]:
    return [Image.fromarray(image.numpy()) for image in images]


def test_the_tokens_are_the_processors(verifier, official):
    for prompt in PROMPTS:
        expected = official.processor(text=prompt, padding=True, truncation=True, max_length=77, return_tensors="pt")
        input_ids, attention_mask = verifier.tokens(prompt)
        assert torch.equal(input_ids, expected.input_ids) and torch.equal(attention_mask, expected.attention_mask)
    assert verifier.tokens(PROMPTS[2])[0].shape[1] == 77


def test_square_images_score_as_the_official_code_scores_them(verifier, official):
    """224 px uint8 images: the processor only rescales and normalises them, so both sides see the same pixels."""
    images = uint8_images(3, 224, 224, seed=0)
    for prompt in PROMPTS:
        torch.testing.assert_close(verifier.score(images.float() / 255, prompt), official(as_pil(images), prompt),
                                   rtol=0, atol=1e-4)


@pytest.mark.parametrize("height, width", [(300, 256), (256, 383), (1024, 768), (97, 131)])
def test_images_to_resize_and_crop_get_the_processors_pixels(verifier, official, height, width):
    """Down and up, portrait and landscape, odd crop offsets: the processor on the same float images gives the same
    pixel values, so the same scores."""
    images = uint8_images(2, height, width, seed=height).float() / 255
    as_processor_input = [image.permute(2, 0, 1) for image in images]
    expected = official.processor(images=as_processor_input, do_rescale=False, return_tensors="pt").pixel_values
    torch.testing.assert_close(verifier.pixels(images), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(verifier.score(images, PROMPTS[0]), official(as_processor_input, PROMPTS[0], do_rescale=False),
                               rtol=0, atol=1e-4)


@pytest.mark.parametrize("height, width", [(300, 256), (1024, 768), (97, 131)])
def test_pil_images_to_resize_score_close_to_the_official_code(verifier, official, height, width):
    """The official code hands PIL images to the processor, which resizes 8-bit pixels and rounds them back to 8 bits
    (transformers 4's PIL path also uses PIL's bicubic kernel); the verifier resizes ComfyUI's float images and keeps
    them float. On photo-like images that is about one 8-bit level per pixel, and a few hundredths of a score on
    this random model (whose scores span tens)."""
    images = torch.stack([smooth_uint8_image(height, width, seed) for seed in range(2)])
    ours, theirs = verifier.score(images.float() / 255, PROMPTS[0]), official(as_pil(images), PROMPTS[0])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0.05)


def test_the_logit_scale_multiplies_the_cosine(verifier):
    images = uint8_images(2, 224, 224, seed=3).float() / 255
    cosine = verifier.image_embeddings(images) @ verifier.text_embedding(PROMPTS[0]).T
    torch.testing.assert_close(verifier.score(images, PROMPTS[0]), 100.0 * cosine[:, 0], rtol=1e-5, atol=1e-4)


def test_a_batch_of_four_scores_as_four_batches_of_one(verifier):
    batch = torch.rand(4, 200, 260, 3, generator=torch.Generator().manual_seed(4))
    alone = torch.cat([verifier.score(batch[i : i + 1], PROMPTS[0]) for i in range(4)])
    torch.testing.assert_close(verifier.score(batch, PROMPTS[0]), alone, rtol=1e-5, atol=1e-4)


def test_large_batches_are_scored_in_chunks(tiny_folders):
    verifier = load_pick_score_verifier(*tiny_folders)
    batch = torch.rand(5, 64, 64, 3, generator=torch.Generator().manual_seed(5))
    whole = verifier.score(batch, PROMPTS[0])
    seen: list[int] = []
    verifier.clip.vision_model.register_forward_hook(
        lambda module, args, kwargs, output: seen.append(kwargs["pixel_values"].shape[0]), with_kwargs=True)
    verifier.chunk = 2
    torch.testing.assert_close(verifier.score(batch, PROMPTS[0]), whole, rtol=1e-5, atol=1e-4)
    assert seen == [2, 2, 1]


def test_the_logit_scale_is_read_before_the_weights_are_halved(tiny_folders):
    verifier = load_pick_score_verifier(*tiny_folders)
    verifier.module.half()  # as ManagedVerifier does where ComfyUI runs models in fp16
    assert verifier.logit_scale == pytest.approx(100.0, rel=1e-6)


def test_the_module_takes_the_device_attribute_comfyuis_model_patcher_sets(verifier):
    verifier.module.device = torch.device("cpu")  # a transformers model's .device is a read-only property
    assert verifier.module.clip is verifier.clip


def test_an_empty_prompt_is_refused(verifier):
    for prompt in ("", "   ", None):
        with pytest.raises(VerifierConditionError, match="prompt is empty"):
            verifier.score(torch.rand(1, 32, 32, 3), prompt)


def test_a_pickle_only_model_folder_is_refused(tiny_folders, tmp_path):
    model_folder, processor_folder = tiny_folders
    (tmp_path / "config.json").write_text((model_folder / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(VerifierConfigError, match="holds no model.safetensors \\(its pytorch_model.bin is a pickle"):
        load_pick_score_verifier(tmp_path, processor_folder)


def test_folders_that_are_not_clip_are_refused(tiny_folders, tmp_path):
    model_folder, processor_folder = tiny_folders
    with pytest.raises(VerifierConfigError, match="is not a transformers CLIPModel folder"):
        load_pick_score_verifier(tmp_path, processor_folder)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "dinov2"}))
    (tmp_path / "model.safetensors").write_bytes((model_folder / "model.safetensors").read_bytes())
    with pytest.raises(VerifierConfigError, match="does not describe a CLIP model"):
        load_pick_score_verifier(tmp_path, processor_folder)
    with pytest.raises(VerifierConfigError, match="holds no preprocessor_config.json"):
        load_pick_score_verifier(model_folder, model_folder)


def test_processor_settings_in_both_saved_forms_and_unsupported_ones_refused(tmp_path):
    path = tmp_path / "preprocessor_config.json"
    common = {"image_mean": [0.5] * 3, "image_std": [0.25] * 3}
    path.write_text(json.dumps({**common, "size": 224, "crop_size": 224, "resample": 3}))
    older = read_clip_processor_settings(path)
    path.write_text(json.dumps({**common, "size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}}))
    assert read_clip_processor_settings(path) == older and older.crop == (224, 224) and older.shortest_edge == 224
    path.write_text(json.dumps({**common, "size": {"height": 224, "width": 224}, "resample": 2, "do_center_crop": False}))
    with pytest.raises(VerifierConfigError, match="do_center_crop is false; size .* is not a shortest-edge size; "
                                                  "resample 2 is not bicubic"):
        read_clip_processor_settings(path)
