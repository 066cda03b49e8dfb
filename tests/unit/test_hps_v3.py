import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from headless.tiny_models import write_tiny_hps_v3
from verifiers import VerifierConditionError, VerifierConfigError
from verifiers.hps_v3 import IMAGE_PIXELS, REWARD_TOKEN, load_hps_v3_verifier, module_key, official_image_size

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hps_v3_reference.pt"


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(str(FIXTURE), weights_only=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, reference) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("hps_v3")
    return write_tiny_hps_v3(folder / "Qwen2-VL-7B-Instruct", folder / "HPSv3.safetensors", reference["writer_seed"])


@pytest.fixture(scope="module")
def verifier(tiny):
    return load_hps_v3_verifier(*tiny)


def reference_images(reference: dict) -> list[torch.Tensor]:
    """The fixture's 8-bit images as the 0..1 floats a sampler hands the verifier."""
    seed = reference["image_seed"]
    return [torch.randint(0, 256, (*shape, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed + i))[None] / 255
            for i, shape in enumerate(reference["image_shapes"])]


def test_the_rewards_are_the_official_implementations(verifier, reference):
    """mu of the official hpsv3 1.0.0 inference (transformers 4.45.2) for the same tiny checkpoint and images;
    see the fixture's maker. Square 448 px images are the official size; the others go through the same PIL resize."""
    images = reference_images(reference)
    ours = torch.tensor([[float(verifier.score(image, prompt)) for image in images] for prompt in reference["prompts"]],
                        dtype=torch.float64)
    torch.testing.assert_close(ours, reference["rewards"][..., 0], rtol=0, atol=1e-5)
    assert reference["rewards"][..., 0].std() > 1e-2  # the images and prompts score differently: a constant would not pass
    both = torch.cat([verifier.rewards(image, reference["prompts"][1]) for image in images]).double()
    torch.testing.assert_close(both, reference["rewards"][1], rtol=0, atol=1e-5)  # mu and sigma


def test_a_batch_scores_as_its_images_do_alone_and_as_the_official_batch(verifier, reference):
    images = reference_images(reference)
    pair = torch.cat(images[:2])
    torch.testing.assert_close(verifier.rewards(pair, reference["prompts"][0]).double(), reference["batch_of_two"],
                               rtol=0, atol=1e-5)
    four = torch.cat([pair, pair.flip(1)])
    scores = verifier.score(four, reference["prompts"][1])
    assert scores.shape == (4,)
    alone = torch.cat([verifier.score(image[None], reference["prompts"][1]) for image in four])
    torch.testing.assert_close(scores, alone, rtol=0, atol=1e-5)


def test_a_large_batch_is_scored_in_chunks_in_order(tiny, verifier):
    chunked = load_hps_v3_verifier(*tiny, chunk=1)
    images = torch.rand(3, 448, 448, 3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(chunked.score(images, "a dog"), verifier.score(images, "a dog"), rtol=0, atol=1e-5)


def test_the_official_sizes():
    """smart_resize with min = max = 256 * 28 * 28 (200,704 px): 448 stays, 1024 and 512 squares come down to 448;
    over the area, sides are scaled down and floored to multiples of 28, under it, scaled up and ceiled."""
    assert IMAGE_PIXELS == 448 * 448
    assert official_image_size(448, 448) == (448, 448)
    assert official_image_size(1024, 1024) == (448, 448)
    assert official_image_size(512, 512) == (448, 448)
    assert official_image_size(1024, 768) == (504, 364)  # 1024 / 1.9795 = 517 -> 504; 768 / 1.9795 = 388 -> 364
    assert official_image_size(300, 520) == (364, 616)  # 300 * 1.1343 = 340 -> 364; 520 * 1.1343 = 590 -> 616
    with pytest.raises(VerifierConditionError, match="200:1"):
        official_image_size(2, 1000)


def test_an_empty_prompt_or_the_reward_token_in_it_is_refused(verifier):
    images = torch.rand(1, 448, 448, 3)
    for prompt in (None, "", "   "):
        with pytest.raises(VerifierConditionError, match="prompt is empty"):
            verifier.score(images, prompt)
    with pytest.raises(VerifierConditionError, match="reward token"):
        verifier.score(images, f"a cat {REWARD_TOKEN}")


def test_checkpoint_keys_of_both_transformers_layouts_are_read():
    assert module_key("visual.blocks.0.attn.qkv.weight") == "visual.blocks.0.attn.qkv.weight"
    assert module_key("model.layers.1.mlp.up_proj.weight") == "language_model.layers.1.mlp.up_proj.weight"
    assert module_key("model.visual.merger.ln_q.weight") == "visual.merger.ln_q.weight"
    assert module_key("model.language_model.norm.weight") == "language_model.norm.weight"
    assert module_key("rm_head.5.weight") == "rm_head.5.weight"
    assert module_key("lm_head.weight") is None


def test_a_checkpoint_without_the_reward_token_row_is_refused(tiny, tmp_path):
    """The embedding must have the base tokenizer's tokens plus <|Reward|>: another base folder is named."""
    base, checkpoint = tiny
    state = load_file(str(checkpoint))
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        state[key] = state[key][:-1].contiguous()
    save_file(state, str(tmp_path / "HPSv3.safetensors"))
    with pytest.raises(VerifierConfigError, match="not the one HPSv3 was trained from"):
        load_hps_v3_verifier(base, tmp_path / "HPSv3.safetensors")


def test_a_checkpoint_missing_weights_or_the_head_is_refused(tiny, tmp_path):
    base, checkpoint = tiny
    state = load_file(str(checkpoint))
    save_file({k: v for k, v in state.items() if not k.startswith("rm_head.")}, str(tmp_path / "no_head.safetensors"))
    with pytest.raises(VerifierConfigError, match="no Qwen2-VL embedding or no rm_head"):
        load_hps_v3_verifier(base, tmp_path / "no_head.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith("visual.blocks.1.")},
              str(tmp_path / "short.safetensors"))
    with pytest.raises(VerifierConfigError, match="lacks .* weights of HPSv3"):
        load_hps_v3_verifier(base, tmp_path / "short.safetensors")


def test_another_base_model_is_refused_by_name(tiny, tmp_path):
    base, checkpoint = tiny
    other = tmp_path / "Qwen2.5-VL-7B-Instruct"
    other.mkdir()
    for path in base.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "qwen2_5_vl"}))
    with pytest.raises(VerifierConfigError, match="'qwen2_5_vl' model; HPSv3 is built on Qwen2-VL-7B-Instruct"):
        load_hps_v3_verifier(other, checkpoint)
    (other / "config.json").write_text(json.dumps(config))
    (other / "preprocessor_config.json").unlink()
    with pytest.raises(VerifierConfigError, match="lacks preprocessor_config.json"):
        load_hps_v3_verifier(other, checkpoint)
