"""ImageReward (Xu et al., 2023): a BLIP image-text model fine-tuned on human preference rankings.

The released weights are ``ImageReward.pt`` (a plain state dict) and ``med_config.json`` from the
Hugging Face repository ``THUDM/ImageReward``. The model is BLIP's ViT (ViT-L/16 at 224 px, width 1024)
whose patch tokens a BERT text encoder (12 layers, width 768) reads through cross-attention in every
layer; the text encoder's first output token ([CLS]) goes through a 5-layer linear MLP, and the reward is
``(mlp(cls) - REWARD_MEAN) / REWARD_STD`` with the constants of the official code.

The official package (``image-reward``) pins old timm and transformers releases and imports diffusers
and datasets, so it cannot be installed beside this pack. transformers' own BLIP modules
(``BlipVisionModel``, ``BlipTextModel``) compute the same functions with the same weights under other
names: the checkpoint is loaded through the rename table below, and any key the table does not account
for is an error, so a different checkpoint cannot load half-way. ``tests/unit/test_image_reward.py``
checks the scores against the official code (``tests/fixtures/make_image_reward_reference.py``).

What the official scoring does, and so what this does:
- the image: shortest side to 224 (bicubic), centre crop, CLIP's mean/std;
- the prompt: bert-base-uncased's tokenizer with BLIP's added special tokens ([DEC] as bos, [ENC] as an
  additional special token), padded to 35 tokens and truncated there; ``input_ids[:, 0]`` stays [CLS]
  (ImageReward does not swap in [ENC] as BLIP's matching head does); the padding is masked in
  self-attention; every image token is attended to in cross-attention;
- no normalisation across the batch: each image's reward depends on that image and the prompt alone.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch

from .aesthetic import AestheticHead
from .errors import VerifierConditionError, VerifierConfigError
from .image_preprocessing import normalize, resize_and_center_crop

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072
MAX_PROMPT_TOKENS = 35
VISION_HEAD_WIDTH = 64
"""BLIP's ViTs have 64-wide attention heads (ViT-B/16: 768 / 12, ViT-L/16: 1024 / 16); the checkpoint
holds no head count, so it is derived from the width."""
VISION_LAYER_NORM_EPS = 1e-6
"""BLIP's ViT uses LayerNorm(eps=1e-6); transformers' BlipVisionConfig defaults to 1e-5."""

DEFAULT_MED_CONFIG: dict[str, Any] = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
    "max_position_embeddings": 512, "vocab_size": 30524, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}
"""The released med_config.json's values that shape the text encoder (its encoder_width is replaced by the
vision width, as the official code does); used when no med_config.json is given."""

OFFICIAL_VISION, OFFICIAL_TEXT, OFFICIAL_HEAD = "blip.visual_encoder.", "blip.text_encoder.", "mlp."

VISION_RENAMES: tuple[tuple[str, str], ...] = (
    # (BLIP's ViT key after "blip.visual_encoder.", transformers BlipVisionModel key); shapes are the same.
    (r"cls_token", r"embeddings.class_embedding"),  # [1, 1, width]
    (r"pos_embed", r"embeddings.position_embedding"),  # [1, 1 + patches, width]
    (r"patch_embed\.proj\.(weight|bias)", r"embeddings.patch_embedding.\1"),
    (r"blocks\.(\d+)\.norm1\.(weight|bias)", r"encoder.layers.\1.layer_norm1.\2"),
    (r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", r"encoder.layers.\1.self_attn.qkv.\2"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"encoder.layers.\1.self_attn.projection.\2"),
    (r"blocks\.(\d+)\.norm2\.(weight|bias)", r"encoder.layers.\1.layer_norm2.\2"),
    (r"blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)", r"encoder.layers.\1.mlp.\2.\3"),
    (r"norm\.(weight|bias)", r"post_layernorm.\1"),
)
"""BLIP's ViT (timm-style) -> transformers' BlipVisionModel. BLIP's text encoder (its med.py) and transformers'
BlipTextModel share their key names, so text keys only move from "blip.text_encoder." to "text."; the head's
move from "mlp." to "head." (its ``layers.{0,2,4,6,7}`` are kept)."""

IGNORED_PREFIXES = (
    "blip.text_encoder.embeddings.position_ids",  # a buffer (0, 1, 2, ...), rebuilt by transformers
    "blip.vision_proj.", "blip.text_proj.",  # BLIP's contrastive projections: not used for the reward
    # BLIP pretraining's parts, in case a checkpoint carries them: decoder, matching head, momentum copies, queues.
    "blip.text_decoder.", "blip.itm_head.", "blip.visual_encoder_m.", "blip.text_encoder_m.",
    "blip.vision_proj_m.", "blip.text_proj_m.", "blip.temp", "blip.image_queue", "blip.text_queue",
    "blip.idx_queue", "blip.ptr_queue",
)


def rename_official_key(key: str) -> str | None:
    """The ImageRewardModel key for an official checkpoint key; None for keys the reward does not use."""
    if key.startswith(IGNORED_PREFIXES):
        return None
    if key.startswith(OFFICIAL_VISION):
        suffix = key[len(OFFICIAL_VISION):]
        for pattern, replacement in VISION_RENAMES:
            if match := re.fullmatch(pattern, suffix):
                return "vision." + match.expand(replacement)
    elif key.startswith(OFFICIAL_TEXT):
        return "text." + key[len(OFFICIAL_TEXT):]
    elif key.startswith(OFFICIAL_HEAD):
        return "head." + key[len(OFFICIAL_HEAD):]
    raise VerifierConfigError(f"unexpected key '{key}' in the ImageReward checkpoint")


class ImageRewardModel(torch.nn.Module):
    """BLIP's image encoder, its image-grounded text encoder and ImageReward's head, as one module."""

    def __init__(self, vision_config: Any, text_config: Any) -> None:
        from transformers.models.blip import BlipTextModel, BlipVisionModel

        super().__init__()
        self.vision = BlipVisionModel(vision_config)
        self.text = BlipTextModel(text_config, add_pooling_layer=False)
        self.head = AestheticHead(text_config.hidden_size)  # the same MLP layout: layers.{0,2,4,6,7}

    def forward(self, pixels: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Rewards ``[B]`` for normalised pixels ``[B, 3, S, S]`` and token ids / mask ``[B, T]``."""
        image_tokens = self.vision(pixel_values=pixels).last_hidden_state
        text = self.text(
            input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=image_tokens,
            encoder_attention_mask=None,  # the official all-ones mask over the image tokens masks nothing
            is_decoder=False,  # bidirectional self-attention: BLIP's encoder mode
        )
        reward = self.head(text.last_hidden_state[:, 0])[:, 0]
        return (reward - REWARD_MEAN) / REWARD_STD


def vision_config_from(state: dict[str, torch.Tensor]) -> Any:
    """BlipVisionConfig from the ViT's weights: width, depth, patch size and image size are all in their shapes."""
    from transformers.models.blip import BlipVisionConfig

    width = state[OFFICIAL_VISION + "cls_token"].shape[-1]
    patch = state[OFFICIAL_VISION + "patch_embed.proj.weight"].shape[-1]
    grid = math.isqrt(state[OFFICIAL_VISION + "pos_embed"].shape[1] - 1)
    blocks = {int(m.group(1)) for key in state if (m := re.match(re.escape(OFFICIAL_VISION) + r"blocks\.(\d+)\.", key))}
    return BlipVisionConfig(
        hidden_size=width, intermediate_size=state[OFFICIAL_VISION + "blocks.0.mlp.fc1.weight"].shape[0],
        num_hidden_layers=len(blocks), num_attention_heads=max(1, width // VISION_HEAD_WIDTH),
        image_size=grid * patch, patch_size=patch, hidden_act="gelu", layer_norm_eps=VISION_LAYER_NORM_EPS,
        attention_dropout=0.0,
    )


def text_config_from(med_config: dict[str, Any], vision_width: int) -> Any:
    """BlipTextConfig for BLIP's text encoder with cross-attention to ``vision_width``-wide image tokens."""
    from transformers.models.blip import BlipTextConfig

    values = {**DEFAULT_MED_CONFIG, **{key: med_config[key] for key in DEFAULT_MED_CONFIG if key in med_config}}
    return BlipTextConfig(
        **values, encoder_hidden_size=vision_width, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        is_decoder=True,  # transformers builds the cross-attention layers only for a "decoder" config
        use_cache=False, bos_token_id=None, eos_token_id=None, sep_token_id=None,  # generation only: unused
    )


def load_official_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    required = (OFFICIAL_VISION + "cls_token", OFFICIAL_TEXT + "embeddings.word_embeddings.weight", "mlp.layers.0.weight")
    if not isinstance(state, dict) or not all(key in state for key in required):
        found = sorted(state)[:4] if isinstance(state, dict) else type(state).__name__
        raise VerifierConfigError(
            f"{checkpoint.name} is not an ImageReward checkpoint (ImageReward.pt from THUDM/ImageReward): "
            f"expected keys such as {list(required)}, found {found}"
        )
    return state


def build_image_reward_model(state: dict[str, torch.Tensor], med_config: dict[str, Any]) -> ImageRewardModel:
    """The model with the official weights: built on the meta device, then given the checkpoint's tensors."""
    vision_config = vision_config_from(state)
    with torch.device("meta"):
        model = ImageRewardModel(vision_config, text_config_from(med_config, vision_config.hidden_size))
    renamed = {new: tensor for key, tensor in state.items() if (new := rename_official_key(key)) is not None}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(renamed)), sorted(set(renamed) - set(expected))
    if missing or unexpected:
        raise VerifierConfigError(
            f"the ImageReward checkpoint does not fit the model its shapes and med_config describe: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]} (does med_config.json belong to this checkpoint?)"
        )
    for key, tensor in renamed.items():
        if tensor.shape != expected[key].shape:
            raise VerifierConfigError(
                f"the ImageReward checkpoint's {key} has shape {tuple(tensor.shape)}, the model expects "
                f"{tuple(expected[key].shape)} (does med_config.json belong to this checkpoint?)"
            )
    model.load_state_dict({key: tensor.float() for key, tensor in renamed.items()}, strict=True, assign=True)
    embeddings = model.text.embeddings  # a non-persistent buffer, so still on the meta device
    embeddings.position_ids = torch.arange(embeddings.position_embeddings.num_embeddings).unsqueeze(0)
    return model


def load_blip_tokenizer(folder: Path) -> Any:
    """bert-base-uncased's tokenizer with the special tokens BLIP adds: [DEC] as bos, [ENC] as additional."""
    from transformers import BertTokenizer

    if not (folder / "vocab.txt").is_file():
        raise VerifierConfigError(f"{folder} holds no vocab.txt (use bert-base-uncased's tokenizer files)")
    tokenizer = BertTokenizer.from_pretrained(str(folder), local_files_only=True)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tokenizer


class ImageRewardVerifier:
    """ImageReward's human-preference reward of each image for the prompt (about -2 to 2, higher is better)."""

    name = "ImageReward"
    needs_condition = True

    def __init__(self, model: ImageRewardModel, tokenizer: Any) -> None:
        vocabulary = model.text.embeddings.word_embeddings.num_embeddings
        if len(tokenizer) > vocabulary:
            raise VerifierConfigError(
                f"the tokenizer has {len(tokenizer)} tokens but the text encoder only {vocabulary} "
                "(use bert-base-uncased's vocab.txt)"
            )
        self._model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.image_size = model.vision.config.image_size

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    def tokens(self, prompt: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.tokenizer(prompt, padding="max_length", truncation=True, max_length=MAX_PROMPT_TOKENS,
                                 return_tensors="pt")
        return encoded.input_ids.expand(count, -1), encoded.attention_mask.expand(count, -1)

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        if condition is None or not condition.strip():
            raise VerifierConditionError("ImageReward scores images against a text prompt, and the prompt is empty")
        parameter = next(self._model.parameters())
        pixels = normalize(resize_and_center_crop(images, self.image_size), CLIP_MEAN, CLIP_STD)
        input_ids, attention_mask = self.tokens(condition, images.shape[0])
        rewards = self._model(pixels.to(parameter.device, parameter.dtype), input_ids.to(parameter.device),
                              attention_mask.to(parameter.device))
        return rewards.float().cpu()


def load_image_reward_verifier(checkpoint: Path, med_config: Path | None, tokenizer_folder: Path) -> ImageRewardVerifier:
    """ImageReward from ``ImageReward.pt``, its ``med_config.json`` (None: the released values) and a folder
    holding bert-base-uncased's ``vocab.txt``."""
    config = json.loads(med_config.read_text()) if med_config is not None else {}
    model = build_image_reward_model(load_official_state(checkpoint), config)
    return ImageRewardVerifier(model, load_blip_tokenizer(tokenizer_folder))
