from pathlib import Path

import pytest
import torch

from headless.tiny_models import image_reward_official_shapes, write_tiny_image_reward
from verifiers import VerifierConditionError, VerifierConfigError, load_image_reward_verifier
from verifiers.image_reward import (
    DEFAULT_MED_CONFIG,
    ImageRewardModel,
    build_image_reward_model,
    rename_official_key,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "image_reward_reference.pt"

RELEASED_LAYOUT = {  # ImageReward.pt (THUDM/ImageReward): official key -> shape, one of each kind of block
    "blip.visual_encoder.cls_token": (1, 1, 1024),
    "blip.visual_encoder.pos_embed": (1, 197, 1024),
    "blip.visual_encoder.patch_embed.proj.weight": (1024, 3, 16, 16),
    "blip.visual_encoder.patch_embed.proj.bias": (1024,),
    "blip.visual_encoder.blocks.0.norm1.weight": (1024,), "blip.visual_encoder.blocks.0.norm1.bias": (1024,),
    "blip.visual_encoder.blocks.0.attn.qkv.weight": (3072, 1024), "blip.visual_encoder.blocks.0.attn.qkv.bias": (3072,),
    "blip.visual_encoder.blocks.0.attn.proj.weight": (1024, 1024), "blip.visual_encoder.blocks.0.attn.proj.bias": (1024,),
    "blip.visual_encoder.blocks.0.norm2.weight": (1024,), "blip.visual_encoder.blocks.0.norm2.bias": (1024,),
    "blip.visual_encoder.blocks.0.mlp.fc1.weight": (4096, 1024), "blip.visual_encoder.blocks.0.mlp.fc1.bias": (4096,),
    "blip.visual_encoder.blocks.0.mlp.fc2.weight": (1024, 4096), "blip.visual_encoder.blocks.0.mlp.fc2.bias": (1024,),
    "blip.visual_encoder.blocks.23.attn.qkv.weight": (3072, 1024),
    "blip.visual_encoder.norm.weight": (1024,), "blip.visual_encoder.norm.bias": (1024,),
    "blip.text_encoder.embeddings.word_embeddings.weight": (30524, 768),
    "blip.text_encoder.embeddings.position_embeddings.weight": (512, 768),
    "blip.text_encoder.embeddings.LayerNorm.weight": (768,), "blip.text_encoder.embeddings.LayerNorm.bias": (768,),
    **{f"blip.text_encoder.encoder.layer.0.{name}.weight": shape for name, shape in {
        "attention.self.query": (768, 768), "attention.self.key": (768, 768), "attention.self.value": (768, 768),
        "attention.output.dense": (768, 768), "attention.output.LayerNorm": (768,),
        "crossattention.self.query": (768, 768), "crossattention.self.key": (768, 1024),
        "crossattention.self.value": (768, 1024), "crossattention.output.dense": (768, 768),
        "crossattention.output.LayerNorm": (768,),
        "intermediate.dense": (3072, 768), "output.dense": (768, 3072), "output.LayerNorm": (768,)}.items()},
    "blip.text_encoder.encoder.layer.11.crossattention.self.key.bias": (768,),
    "mlp.layers.0.weight": (1024, 768), "mlp.layers.0.bias": (1024,),
    "mlp.layers.2.weight": (128, 1024), "mlp.layers.2.bias": (128,),
    "mlp.layers.4.weight": (64, 128), "mlp.layers.4.bias": (64,),
    "mlp.layers.6.weight": (16, 64), "mlp.layers.6.bias": (16,),
    "mlp.layers.7.weight": (1, 16), "mlp.layers.7.bias": (1,),
}
RELEASED_COUNTS = {"vision": 4 + 24 * 12 + 2, "text": 4 + 12 * 26, "head": 10}


@pytest.fixture(scope="module")
def released_model() -> ImageRewardModel:
    """The model for a checkpoint shaped like ImageReward.pt (meta tensors), with the released med_config's values."""
    shapes = image_reward_official_shapes({"width": 1024, "layers": 24, "patch_size": 16, "image_size": 224},
                                          DEFAULT_MED_CONFIG)
    assert {key: shapes[key] for key in RELEASED_LAYOUT} == RELEASED_LAYOUT
    return build_image_reward_model({key: torch.empty(shape, device="meta") for key, shape in shapes.items()}, {})


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("image_reward")
    return write_tiny_image_reward(folder / "ImageReward", folder / "bert")


@pytest.fixture(scope="module")
def verifier(tiny_files):
    folder, tokenizer = tiny_files
    return load_image_reward_verifier(folder / "ImageReward.pt", folder / "med_config.json", tokenizer)


def images(count: int, seed: int, height: int = 48, width: int = 40) -> torch.Tensor:
    return torch.rand((count, height, width, 3), generator=torch.Generator().manual_seed(seed))


def test_the_released_checkpoints_keys_map_onto_the_model_key_by_key(released_model):
    released_model_state = {key: tuple(value.shape) for key, value in released_model.state_dict().items()}
    for key, shape in RELEASED_LAYOUT.items():
        renamed = rename_official_key(key)
        assert released_model_state[renamed] == shape, key
    counts = {part: sum(key.startswith(part + ".") for key in released_model_state) for part in RELEASED_COUNTS}
    assert counts == RELEASED_COUNTS


def test_the_released_checkpoint_gives_the_released_configuration(released_model):
    vision, text = released_model.vision.config, released_model.text.config
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads, vision.patch_size,
            vision.image_size, vision.layer_norm_eps, vision.hidden_act) == (1024, 24, 16, 16, 224, 1e-6, "gelu")
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.encoder_hidden_size,
            text.vocab_size, text.layer_norm_eps) == (768, 12, 12, 1024, 30524, 1e-12)


def test_the_rename_table_spells_out_the_vit_renames():
    assert rename_official_key("blip.visual_encoder.blocks.7.attn.qkv.bias") == "vision.encoder.layers.7.self_attn.qkv.bias"
    assert rename_official_key("blip.visual_encoder.blocks.7.attn.proj.weight") == \
        "vision.encoder.layers.7.self_attn.projection.weight"
    assert rename_official_key("blip.visual_encoder.norm.weight") == "vision.post_layernorm.weight"
    assert rename_official_key("blip.visual_encoder.pos_embed") == "vision.embeddings.position_embedding"
    assert rename_official_key("blip.text_encoder.embeddings.position_ids") is None
    assert rename_official_key("blip.vision_proj.weight") is None and rename_official_key("blip.text_decoder.x") is None
    with pytest.raises(VerifierConfigError, match="unexpected key 'blip.visual_encoder.blocks.0.attn.relative'"):
        rename_official_key("blip.visual_encoder.blocks.0.attn.relative")
    with pytest.raises(VerifierConfigError, match="unexpected key 'other.weight'"):
        rename_official_key("other.weight")


def test_scores_are_one_float_per_image_and_deterministic(verifier):
    batch = images(3, 0)
    scores = verifier.score(batch, "a red apple")
    assert scores.shape == (3,) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
    assert torch.equal(scores, verifier.score(batch, "a red apple"))
    assert not torch.allclose(scores, verifier.score(batch, "a blue house"))


def test_a_score_does_not_depend_on_the_rest_of_the_batch(verifier):
    batch = images(4, 1)
    alone = torch.cat([verifier.score(batch[i : i + 1], "a photo of a cat") for i in range(4)])
    torch.testing.assert_close(verifier.score(batch, "a photo of a cat"), alone, rtol=1e-5, atol=1e-5)


def test_the_scores_are_the_official_implementations(tiny_files):
    """Rewards of the official ImageReward code (image-reward 1.5) for the same tiny weights; see the fixture's maker."""
    reference = torch.load(str(FIXTURE), weights_only=True)
    folder, tokenizer = write_tiny_image_reward(tiny_files[0].parent / "parity", tiny_files[0].parent / "parity-bert",
                                                seed=reference["writer_seed"])
    verifier = load_image_reward_verifier(folder / "ImageReward.pt", folder / "med_config.json", tokenizer)
    size = reference["image_size"]
    pixels = torch.randint(0, 256, (reference["image_count"], size, size, 3), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(reference["image_seed"]))
    for prompt, input_ids in zip(reference["prompts"], reference["input_ids"]):
        assert torch.equal(verifier.tokens(prompt, 1)[0][0], input_ids), prompt
    ours = torch.stack([verifier.score(pixels.float() / 255, prompt) for prompt in reference["prompts"]])
    torch.testing.assert_close(ours.double(), reference["rewards"], rtol=0, atol=1e-5)
    # An image that must be resized: PIL's bicubic (official) and torch's antialiased bicubic differ slightly.
    resized = torch.randint(0, 256, (*reference["resized_shape"], 3), dtype=torch.uint8,
                            generator=torch.Generator().manual_seed(reference["image_seed"] + 1))
    ours = torch.cat([verifier.score(resized[None].float() / 255, prompt) for prompt in reference["prompts"]])
    torch.testing.assert_close(ours.double(), reference["resized_rewards"], rtol=0, atol=5e-3)


def test_an_empty_prompt_is_refused(verifier):
    for prompt in ("", "   ", None):
        with pytest.raises(VerifierConditionError, match="prompt is empty"):
            verifier.score(images(1, 0), prompt)


def test_a_checkpoint_that_is_not_image_reward_is_refused(tmp_path, tiny_files):
    torch.save({"layers.0.weight": torch.zeros(1024, 768)}, tmp_path / "aesthetic.pth")
    with pytest.raises(VerifierConfigError, match="aesthetic.pth is not an ImageReward checkpoint"):
        load_image_reward_verifier(tmp_path / "aesthetic.pth", None, tiny_files[1])


def test_a_checkpoint_with_a_stray_key_is_refused(tmp_path, tiny_files):
    state = torch.load(str(tiny_files[0] / "ImageReward.pt"), weights_only=True)
    state["blip.text_encoder.pooler.dense.weight"] = torch.zeros(32, 32)
    torch.save(state, tmp_path / "ImageReward.pt")
    with pytest.raises(VerifierConfigError, match="unexpected.*text.pooler.dense.weight"):
        load_image_reward_verifier(tmp_path / "ImageReward.pt", tiny_files[0] / "med_config.json", tiny_files[1])


def test_a_med_config_that_does_not_fit_the_checkpoint_is_refused(tiny_files):
    with pytest.raises(VerifierConfigError, match="missing .*text.encoder.layer.10.*does med_config.json belong"):
        load_image_reward_verifier(tiny_files[0] / "ImageReward.pt", None, tiny_files[1])  # released sizes
