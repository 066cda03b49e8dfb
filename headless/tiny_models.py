"""Tiny random-weight models with real formats: an SD1.5-shaped checkpoint and an open_clip model.

They exercise the same loading code as full-size weights (ComfyUI's checkpoint loader, open_clip's
local-dir loader) in seconds on a CPU. Their samples are noise-like; they prove plumbing, not quality.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

TINY_CHECKPOINT_NAME = "noise_search_tiny_sd15.safetensors"
TINY_CLIP_FOLDER = "noise_search_tiny_clip"
TINY_AESTHETIC_HEAD = "noise_search_tiny_aesthetic_head.pth"
TINY_DINOV2_FOLDER = "noise_search_tiny_dinov2"
TINY_DINOV2_HEAD = "noise_search_tiny_dinov2_linear_head.pth"
TINY_CONTEXT_DIM = 32

TINY_TEXT_ENCODER_CONFIG = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 49407,
    "hidden_act": "quick_gelu",
    "hidden_size": TINY_CONTEXT_DIM,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "pad_token_id": 1,
    "projection_dim": TINY_CONTEXT_DIM,
    "torch_dtype": "float32",
    "vocab_size": 49408,
}

TINY_UNET_CONFIG = {
    "use_checkpoint": False,
    "image_size": 32,
    "out_channels": 4,
    "use_spatial_transformer": True,
    "legacy": False,
    "adm_in_channels": None,
    "in_channels": 4,
    "model_channels": 32,
    "num_res_blocks": [1, 1],
    "transformer_depth": [1, 1],
    "transformer_depth_output": [1, 1, 1, 1],
    "channel_mult": [1, 2],
    "transformer_depth_middle": 1,
    "use_linear_in_transformer": False,
    "context_dim": TINY_CONTEXT_DIM,
    "num_heads": 2,
    "num_head_channels": -1,
    "use_temporal_resblock": False,
    "use_temporal_attention": False,
}

TINY_OPEN_CLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    },
    "preprocess_cfg": {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
    },
}


def initialise(module: torch.nn.Module, seed: int) -> None:
    """Deterministic weights: fan-in scaled normals for matrices/kernels, ones for norm scales, zeros else.

    ComfyUI's ``comfy.ops`` layers skip initialisation, so their weights start as whatever memory held.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(module.named_parameters(), key=lambda item: item[0]):
            if parameter.ndim >= 2:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)
            elif name.endswith("weight") or name.endswith("scale"):
                parameter.fill_(1.0)
            else:
                parameter.zero_()


def tiny_sd15_class() -> type:
    """A supported-model config (and text encoder) that ComfyUI's detection matches to the tiny UNet."""
    import comfy.sd1_clip
    import comfy.supported_models
    import comfy.supported_models_base

    class TinyCLIPTextModel(comfy.sd1_clip.SDClipModel):
        def __init__(self, device: str = "cpu", dtype: torch.dtype | None = None, model_options: dict = {}):
            super().__init__(
                device=device, dtype=dtype, model_options=model_options, return_projected_pooled=False,
                textmodel_json_config=dict(TINY_TEXT_ENCODER_CONFIG),
            )

    class TinyTextEncoder(comfy.sd1_clip.SD1ClipModel):
        def __init__(self, device: str = "cpu", dtype: torch.dtype | None = None, model_options: dict = {}, **kwargs):
            super().__init__(
                device=device, dtype=dtype, model_options=model_options, clip_model=TinyCLIPTextModel, **kwargs
            )

    class TinySD15(comfy.supported_models.SD15):
        unet_config = {
            "context_dim": TINY_CONTEXT_DIM,
            "model_channels": 32,
            "use_linear_in_transformer": False,
            "adm_in_channels": None,
            "use_temporal_attention": False,
        }
        unet_extra_config = {"num_heads": 2, "num_head_channels": -1}

        def clip_target(self, state_dict: dict = {}) -> comfy.supported_models_base.ClipTarget:
            return comfy.supported_models_base.ClipTarget(comfy.sd1_clip.SD1Tokenizer, TinyTextEncoder)

    return TinySD15


_registered: dict[str, type] = {}


def register_tiny_models() -> type:
    """Let ComfyUI's checkpoint loader recognise the tiny SD1.5 (idempotent)."""
    import comfy.supported_models

    if "sd15" not in _registered:
        _registered["sd15"] = tiny_sd15_class()
        comfy.supported_models.models.insert(0, _registered["sd15"])
    return _registered["sd15"]


def save_sd15_shaped_checkpoint(path: Path, model_config, dtype: torch.dtype, seed: int,
                                zero_output: bool = False) -> Path:
    """Initialise a UNet for ``model_config``, its text encoder and a TAESD-shaped VAE; save with ComfyUI's saver.

    ``zero_output`` zeroes the UNet's output convolution, so long sampling runs of random weights stay finite.
    """
    import comfy.model_management
    import comfy.model_patcher
    import comfy.sd
    import comfy.taesd.taesd

    model_config.set_inference_dtype(dtype, None)
    model = model_config.get_model({})
    initialise(model, seed)
    if zero_output:
        with torch.no_grad():
            for parameter in model.diffusion_model.out.parameters():
                parameter.zero_()
    patcher = comfy.model_patcher.ModelPatcher(
        model, load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device(),
    )
    clip = comfy.sd.CLIP(target=model_config.clip_target())
    initialise(clip.cond_stage_model, seed + 1)
    taesd = comfy.taesd.taesd.TAESD(latent_channels=4)
    initialise(taesd, seed + 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    comfy.sd.save_checkpoint(str(path), patcher, clip, comfy.sd.VAE(sd=taesd.state_dict()))
    return path


def write_tiny_sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save a tiny SD1.5-shaped checkpoint (UNet, text encoder, TAESD-shaped VAE) with ComfyUI's saver."""
    config_class = register_tiny_models()
    return save_sd15_shaped_checkpoint(path, config_class(dict(TINY_UNET_CONFIG)), torch.float32, seed)


def write_tiny_open_clip(folder: Path, seed: int = 0) -> Path:
    """Save a tiny open_clip model as a local-dir folder: open_clip_config.json + open_clip_model.safetensors."""
    import open_clip
    import safetensors.torch

    folder.mkdir(parents=True, exist_ok=True)
    model = open_clip.CLIP(**TINY_OPEN_CLIP_CONFIG["model_cfg"])
    initialise(model, seed)
    (folder / "open_clip_config.json").write_text(json.dumps(TINY_OPEN_CLIP_CONFIG, indent=2))
    safetensors.torch.save_file(
        {name: tensor.contiguous() for name, tensor in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    return folder


def write_tiny_aesthetic_head(path: Path, embedding_size: int = 32, seed: int = 0) -> Path:
    """Save an aesthetic-predictor head for the tiny CLIP, as the released .pth: a plain state dict."""
    from verifiers.aesthetic import AestheticHead

    head = AestheticHead(embedding_size)
    initialise(head, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), str(path))
    return path


def write_tiny_dinov2(folder: Path, head_path: Path, classes: int = 3, seed: int = 0) -> tuple[Path, Path]:
    """Save a tiny DINOv2 as a transformers folder and a linear head in the official head's format."""
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                          patch_size=8, image_size=32)
    Dinov2Model(config).save_pretrained(str(folder))
    head = torch.nn.Linear(2 * config.hidden_size, classes)
    initialise(head, seed + 1)
    head_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": head.weight.detach().clone(), "bias": head.bias.detach().clone()}, str(head_path))
    return folder, head_path


TINY_IMAGE_REWARD_FOLDER = "noise_search_tiny_image_reward"
TINY_BERT_TOKENIZER_FOLDER = "noise_search_tiny_bert_tokenizer"
TINY_BERT_VOCAB = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "a", "an", "the", "of", "on", "in", "with", "and",
    "photo", "painting", "red", "green", "blue", "apple", "cat", "dog", "table", "tree", "house", "sky", "big",
    "small", "##s", "##y", "##ing",
)
"""A WordPiece vocabulary in bert-base-uncased's format (special tokens first, then words and ## pieces)."""
TINY_IMAGE_REWARD_VISION = {"width": 128, "layers": 2, "patch_size": 16, "image_size": 224}
"""BLIP's ViT shrunk in width and depth; 224 px and 16 px patches as released, so the real preprocessing runs."""
TINY_MED_CONFIG = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
    "layer_norm_eps": 1e-12, "max_position_embeddings": 40, "model_type": "bert", "num_attention_heads": 2,
    "num_hidden_layers": 2, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": len(TINY_BERT_VOCAB) + 2,
    "encoder_width": TINY_IMAGE_REWARD_VISION["width"], "add_cross_attention": True,
}
"""The released med_config.json's keys with tiny sizes; vocab_size counts BLIP's two added tokens ([DEC], [ENC])."""
BLIP_EMBED_DIM = 256
"""Width of BLIP's contrastive projections (vision_proj, text_proj), present in the checkpoint though unused."""


def image_reward_official_shapes(vision: dict, med_config: dict) -> dict[str, tuple[int, ...]]:
    """Every key of the official ImageReward state dict (``ImageReward.state_dict()``) with its shape.

    Names as in THUDM/ImageReward: ``blip.visual_encoder`` (BLIP's timm-style ViT), ``blip.text_encoder``
    (BLIP's med.py BERT with cross-attention), ``blip.vision_proj``/``blip.text_proj`` and ``mlp.layers``.
    """
    width, patch = vision["width"], vision["patch_size"]
    tokens = (vision["image_size"] // patch) ** 2 + 1
    shapes: dict[str, tuple[int, ...]] = {
        "blip.visual_encoder.cls_token": (1, 1, width),
        "blip.visual_encoder.pos_embed": (1, tokens, width),
        "blip.visual_encoder.patch_embed.proj.weight": (width, 3, patch, patch),
        "blip.visual_encoder.patch_embed.proj.bias": (width,),
    }
    for i in range(vision["layers"]):
        block = f"blip.visual_encoder.blocks.{i}."
        for name, shape in (("norm1", (width,)), ("attn.qkv", (3 * width, width)), ("attn.proj", (width, width)),
                            ("norm2", (width,)), ("mlp.fc1", (4 * width, width)), ("mlp.fc2", (width, 4 * width))):
            shapes[block + name + ".weight"] = shape
            shapes[block + name + ".bias"] = (shape[0],)
    shapes["blip.visual_encoder.norm.weight"] = shapes["blip.visual_encoder.norm.bias"] = (width,)
    hidden, inner = med_config["hidden_size"], med_config["intermediate_size"]
    text = "blip.text_encoder."
    shapes.update({
        text + "embeddings.position_ids": (1, med_config["max_position_embeddings"]),
        text + "embeddings.word_embeddings.weight": (med_config["vocab_size"], hidden),
        text + "embeddings.position_embeddings.weight": (med_config["max_position_embeddings"], hidden),
        text + "embeddings.LayerNorm.weight": (hidden,), text + "embeddings.LayerNorm.bias": (hidden,),
    })
    for i in range(med_config["num_hidden_layers"]):
        layer = f"{text}encoder.layer.{i}."
        linears = {"attention.self.query": (hidden, hidden), "attention.self.key": (hidden, hidden),
                   "attention.self.value": (hidden, hidden), "attention.output.dense": (hidden, hidden),
                   "crossattention.self.query": (hidden, hidden), "crossattention.self.key": (hidden, width),
                   "crossattention.self.value": (hidden, width), "crossattention.output.dense": (hidden, hidden),
                   "intermediate.dense": (inner, hidden), "output.dense": (hidden, inner)}
        norms = ("attention.output.LayerNorm", "crossattention.output.LayerNorm", "output.LayerNorm")
        for name, shape in linears.items():
            shapes[layer + name + ".weight"], shapes[layer + name + ".bias"] = shape, (shape[0],)
        for name in norms:
            shapes[layer + name + ".weight"] = shapes[layer + name + ".bias"] = (hidden,)
    shapes.update({"blip.vision_proj.weight": (BLIP_EMBED_DIM, width), "blip.vision_proj.bias": (BLIP_EMBED_DIM,),
                   "blip.text_proj.weight": (BLIP_EMBED_DIM, hidden), "blip.text_proj.bias": (BLIP_EMBED_DIM,)})
    for index, (fan_in, fan_out) in zip((0, 2, 4, 6, 7), ((hidden, 1024), (1024, 128), (128, 64), (64, 16), (16, 1))):
        shapes[f"mlp.layers.{index}.weight"], shapes[f"mlp.layers.{index}.bias"] = (fan_out, fan_in), (fan_out,)
    return shapes


def write_tiny_image_reward(folder: Path, tokenizer_folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Save a tiny ImageReward as released: ``ImageReward.pt`` (a plain state dict in the official key layout,
    as ``ImageReward.load`` reads it) and ``med_config.json``; and a bert-style tokenizer folder (vocab.txt).

    Every weight is random (biases and norm scales too, so that a key mapped to the wrong place shows in the
    scores); the generator is seeded, so the same files come out every time.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in image_reward_official_shapes(TINY_IMAGE_REWARD_VISION, TINY_MED_CONFIG).items():
        if key.endswith("position_ids"):
            state[key] = torch.arange(shape[1]).unsqueeze(0)
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:]) if not key.endswith(("cls_token", "pos_embed")) else 50
            state[key] = torch.randn(shape, generator=generator) / fan_in**0.5
        elif "norm" in key.lower() and key.endswith("weight"):
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=generator)
        else:
            state[key] = 0.1 * torch.randn(shape, generator=generator)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, str(folder / "ImageReward.pt"))
    (folder / "med_config.json").write_text(json.dumps(TINY_MED_CONFIG, indent=2))
    tokenizer_folder.mkdir(parents=True, exist_ok=True)
    (tokenizer_folder / "vocab.txt").write_text("\n".join(TINY_BERT_VOCAB) + "\n")
    (tokenizer_folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return folder, tokenizer_folder


TINY_QWEN2_5_VL_FOLDER = "noise_search_tiny_qwen2_5_vl"
TINY_QWEN3_VL_FOLDER = "noise_search_tiny_qwen3_vl"
QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                       "<|image_pad|>", "<|video_pad|>")
"""The chat and vision special tokens of Qwen's vision-language tokenizers (their ids differ here)."""
TINY_QWEN_CORPUS = (
    "Yes", "No", "Yes.", "No.", "system", "user", "assistant", "You are a helpful assistant.",
    "Does this image show: a red apple on a wooden table? Answer Yes or No.",
    ("This image was generated for the prompt. Grade its accuracy to prompt, originality, visual quality, "
     "internal consistency and emotional resonance from 0 (fails completely) to 9 (flawless). Answer with a single digit."),
)
"""Text the byte-level BPE is trained on, so "Yes" and "No" become whole tokens as in Qwen's vocabulary."""
TINY_QWEN_VOCABULARY = 352
"""Rows of the tiny models' embeddings: the trained tokens plus spare rows, as Qwen's models have."""
TINY_QWEN2_5_VL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""A small chat template rendering as Qwen2.5-VL's does (a default system turn, the image before the text)."""
TINY_QWEN3_VL_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""As Qwen3-VL's Instruct template renders: no default system turn."""


def tiny_qwen_tokenizer():
    """A byte-level BPE tokenizer in Qwen's format: digits split one per token, Qwen's special tokens added."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}"), "isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(list(TINY_QWEN_CORPUS) * 20, trainer)
    bpe.add_special_tokens(list(QWEN_SPECIAL_TOKENS))
    tokenizer = Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None)
    if len(tokenizer) > TINY_QWEN_VOCABULARY or len(tokenizer.encode("Yes", add_special_tokens=False)) != 1:
        raise RuntimeError(f"the tiny Qwen tokenizer came out with {len(tokenizer)} tokens or a split 'Yes'")
    return tokenizer


def tiny_qwen_vl_config(family: str, token_ids: dict[str, int]):
    """A Qwen2.5-VL (``qwen2_5_vl``) or Qwen3-VL (``qwen3_vl``) config: 2 text layers of width 32, a 2-block ViT.

    Qwen2.5-VL's is flat (text settings at the top level) as its released config.json is; Qwen3-VL's nests
    ``text_config``. Head size 8, so the multimodal rotary sections [2, 1, 1] sum to half of it.
    """
    special = {"image_token_id": token_ids["<|image_pad|>"], "video_token_id": token_ids["<|video_pad|>"],
               "vision_start_token_id": token_ids["<|vision_start|>"], "vision_end_token_id": token_ids["<|vision_end|>"]}
    text = {"vocab_size": TINY_QWEN_VOCABULARY, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512, "rope_theta": 10000.0,
            "rms_norm_eps": 1e-6, "initializer_range": 0.2, "bos_token_id": token_ids["<|endoftext|>"],
            "eos_token_id": token_ids["<|im_end|>"]}
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "spatial_merge_size": 2,
              "temporal_patch_size": 2, "out_hidden_size": 32, "initializer_range": 0.2}
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        return Qwen2_5_VLConfig(
            **text, **special, rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]}, tie_word_embeddings=False,
            vision_config={**vision, "patch_size": 14, "window_size": 56, "fullatt_block_indexes": [1], "in_chans": 3},
        )
    from transformers import Qwen3VLConfig

    return Qwen3VLConfig(
        text_config={**text, "head_dim": 8, "tie_word_embeddings": True,
                     "rope_scaling": {"rope_type": "default", "mrope_section": [2, 1, 1], "mrope_interleaved": True}},
        vision_config={**vision, "patch_size": 16, "in_channels": 3, "num_position_embeddings": 16,
                       "deepstack_visual_indexes": [1]},
        **special, tie_word_embeddings=True,
    )


def tiny_qwen_vl_processors(family: str) -> tuple[object, object | None]:
    """The image processor and (where this transformers has them) the video processor of the family.

    Qwen2.5-VL: 14 px patches, CLIP's mean and std; Qwen3-VL: 16 px patches, mean and std 0.5; both merge
    2 × 2 patches per token. Images are resized to between 56² (64²) and 112² (128²) pixels here, so
    tests stay small; the released models allow far more.
    """
    from transformers import Qwen2VLImageProcessor

    if family == "qwen2_5_vl":
        image = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2)
        try:
            from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
        except ImportError:  # transformers before video processors: the processor takes none
            return image, None
        return image, Qwen2VLVideoProcessor(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2)
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    image = Qwen2VLImageProcessor(min_pixels=64 * 64, max_pixels=128 * 128, patch_size=16, merge_size=2,
                                  image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return image, Qwen3VLVideoProcessor(patch_size=16, merge_size=2, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def write_tiny_qwen_vl(folder: Path, family: str = "qwen2_5_vl", seed: int = 0) -> Path:
    """Save a tiny random-weight Qwen2.5-VL or Qwen3-VL in the layout of its Hugging Face repository.

    config.json, safetensors shards with their index, the tokenizer (tokenizer.json, tokenizer_config.json),
    preprocessor_config.json (and video_preprocessor_config.json for Qwen3-VL, as its repositories have) and
    chat_template.json; each written by the installed transformers' own ``save_pretrained``.
    """
    from transformers import AutoModelForImageTextToText

    tokenizer = tiny_qwen_tokenizer()
    token_ids = dict(zip(QWEN_SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS))))
    config = tiny_qwen_vl_config(family, token_ids)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config)
    image_processor, video_processor = tiny_qwen_vl_processors(family)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), max_shard_size="200KB")
    tokenizer.save_pretrained(str(folder))
    image_processor.save_pretrained(str(folder))
    if family == "qwen3_vl" and video_processor is not None:
        video_processor.save_pretrained(str(folder))
    template = TINY_QWEN2_5_VL_TEMPLATE if family == "qwen2_5_vl" else TINY_QWEN3_VL_TEMPLATE
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2))
    return folder


TINY_PICK_SCORE_FOLDER = "noise_search_tiny_pick_score"
TINY_CLIP_PROCESSOR_FOLDER = "noise_search_tiny_clip_processor"
CLIP_H_PREPROCESSOR_CONFIG = {
    "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224,
}
"""laion/CLIP-ViT-H-14-laion2B-s32B-b79K's preprocessor_config.json (its older form: sizes as plain ints)."""
CLIP_TOKENIZER_CONFIG = {
    "unk_token": "<|endoftext|>", "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
    "pad_token": "<|endoftext|>", "add_prefix_space": False, "errors": "replace", "do_lower_case": True,
    "model_max_length": 77, "tokenizer_class": "CLIPTokenizer",
}
TINY_CLIP_WORDS = ("a", "an", "the", "of", "on", "in", "with", "and", "photo", "painting", "red", "green", "blue",
                   "apple", "cat", "dog", "table", "tree", "house", "sky", "big", "small")


def tiny_clip_bpe(words: tuple[str, ...] = TINY_CLIP_WORDS) -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary and merges in CLIP's layout: the 256 byte symbols, the same with ``</w>``, one
    merged token per merge (here: enough to spell ``words`` whole), then ``<|startoftext|>`` and ``<|endoftext|>``."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet + [symbol + "</w>" for symbol in alphabet])}
    merges: list[str] = []
    for word in words:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            if merged not in vocab:
                merges.append(f"{pieces[0]} {pieces[1]}")
                vocab[merged] = len(vocab)
            pieces = [merged, *pieces[2:]]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return vocab, merges


def write_tiny_clip_processor(folder: Path) -> Path:
    """A CLIP processor folder with the files of laion/CLIP-ViT-H-14-laion2B-s32B-b79K's: preprocessor_config.json,
    vocab.json, merges.txt, tokenizer.json, tokenizer_config.json and special_tokens_map.json, with a tiny vocabulary."""
    from transformers import AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_clip_bpe()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps(CLIP_TOKENIZER_CONFIG, indent=2))
    special = ("unk_token", "bos_token", "eos_token", "pad_token")
    (folder / "special_tokens_map.json").write_text(json.dumps({key: CLIP_TOKENIZER_CONFIG[key] for key in special}))
    AutoTokenizer.from_pretrained(str(folder), local_files_only=True).backend_tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "preprocessor_config.json").write_text(json.dumps(CLIP_H_PREPROCESSOR_CONFIG, indent=2))
    return folder


def write_tiny_pick_score(model_folder: Path, processor_folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny PickScore as released: a transformers CLIPModel folder (config.json + model.safetensors) beside a CLIP
    processor folder. The vision tower takes 224 px images (as released) so the real resize and crop run; the logit
    scale is log(100), not CLIP's initial log(1/0.07), so a score that ignores it shows."""
    from transformers import CLIPConfig, CLIPModel

    write_tiny_clip_processor(processor_folder)
    vocab, _ = tiny_clip_bpe()
    text = {"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "gelu",
            "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"]}
    vision = {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": 224, "patch_size": 32, "hidden_act": "gelu"}
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():  # biases and norms random too: a misplaced one shows
            if parameter.ndim == 1 and name != "logit_scale":
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
        model.logit_scale.fill_(math.log(100.0))
    model.save_pretrained(str(model_folder), safe_serialization=True)
    return model_folder, processor_folder


TINY_HPS_V2_FOLDER = "noise_search_tiny_hps_v2"
HPS_V2_CHECKPOINT = "HPS_v2.1_compressed.pt"
TINY_HPS_V2_MODEL_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 48, "head_width": 24, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
"""ViT-H-14's open_clip config shrunk in width and depth: 224 px images (as released) so the real resize and padding
run, and the real 49408-token vocabulary and 77-token context so the real tokenizer's ids fit."""


def write_tiny_hps_v2(folder: Path, seed: int = 0) -> Path:
    """A tiny HPSv2.1 as released: ``HPS_v2.1_compressed.pt``, ``{"state_dict": open_clip CLIP state dict}`` (in half
    precision), plus the ``open_clip_config.json`` that tells the loader its architecture is not ViT-H-14.

    Every weight is random (biases, norms and the class embedding too, so a tensor in the wrong place shows in the
    scores); the generator is seeded, so the same file comes out every time.
    """
    import open_clip

    model = open_clip.CLIP(**TINY_HPS_V2_MODEL_CONFIG)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, tensor in model.state_dict().items():
        if key == "logit_scale":
            value = torch.tensor(math.log(100.0))
        elif tensor.ndim >= 2:
            value = torch.randn(tensor.shape, generator=generator) / math.prod(tensor.shape[1:]) ** 0.5
        elif "ln" in key and key.endswith("weight"):
            value = 1.0 + 0.1 * torch.randn(tensor.shape, generator=generator)
        else:
            value = 0.1 * torch.randn(tensor.shape, generator=generator)
        state[key] = value.half()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state}, str(folder / HPS_V2_CHECKPOINT))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_HPS_V2_MODEL_CONFIG}, indent=2))
    return folder


TINY_HPS_V3_BASE_FOLDER = "noise_search_tiny_qwen2_vl"
TINY_HPS_V3_FOLDER = "noise_search_tiny_hps_v3"
QWEN2_VL_PREPROCESSOR_CONFIG = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
}
"""Qwen2-VL-7B-Instruct's preprocessor_config.json settings: HPSv3 sizes images itself, within these bounds."""


def tiny_qwen2_vl_config(token_ids: dict[str, int]) -> dict:
    """A flat Qwen2-VL config.json as Qwen/Qwen2-VL-7B-Instruct's is laid out (read alike by transformers 4.45 and 5):
    2 text layers of width 32 (head size 8, rotary sections [2, 1, 1]), a 2-block ViT of width 32 with the released
    14 px patches, 2 x 2 merge and 2-frame temporal patches (the official HPSv3 code sizes images by 28 px)."""
    return {
        "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
        "vocab_size": TINY_QWEN_VOCABULARY, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 32768,
        "max_window_layers": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "sliding_window": 32768,
        "use_sliding_window": False, "attention_dropout": 0.0, "initializer_range": 0.02, "tie_word_embeddings": False,
        "torch_dtype": "float32", "use_cache": True,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]},
        "bos_token_id": token_ids["<|endoftext|>"], "eos_token_id": token_ids["<|im_end|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"], "vision_end_token_id": token_ids["<|vision_end|>"],
        "image_token_id": token_ids["<|image_pad|>"], "video_token_id": token_ids["<|video_pad|>"],
        "vision_config": {"depth": 2, "embed_dim": 32, "mlp_ratio": 2, "num_heads": 2, "in_chans": 3, "hidden_size": 32,
                          "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
    }


def qwen2_vl_official_shapes(config: dict, vocabulary: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a Qwen2-VL state dict in the layout of transformers 4.45, the one HPSv3's checkpoint and the
    released Qwen2-VL repositories use (``visual.*``, ``model.*``, ``lm_head.weight``), with ``vocabulary`` rows.

    Read from the installed transformers' own model, built on the meta device, and renamed to that layout.
    """
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(Qwen2VLConfig(**{**config, "vocab_size": vocabulary}))
    renamed = {}
    for key, tensor in model.state_dict().items():
        for prefix, official in (("model.visual.", "visual."), ("model.language_model.", "model.")):
            if key.startswith(prefix):
                key = official + key[len(prefix):]
                break
        renamed[key] = tuple(tensor.shape)
    return renamed


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Random float32 tensors, in key order from one generator: the same on every transformers version.
    Norm weights are near 1, the rest N(0, 0.2)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key in sorted(shapes):
        noise = torch.randn(shapes[key], generator=generator)
        state[key] = 1 + 0.1 * noise if "norm" in key or ".ln_q." in key else 0.2 * noise
    return state


def write_tiny_hps_v3(base_folder: Path, checkpoint: Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny Qwen2-VL base folder in Qwen/Qwen2-VL-7B-Instruct's layout and a tiny HPSv3 checkpoint in the official one.

    The folder: config.json, model.safetensors, the tiny Qwen tokenizer, preprocessor_config.json and
    chat_template.json. The checkpoint: every weight of the official reward model, the embedding and language-model
    head grown by one row for ``<|Reward|>`` as the official code grows them, and the reward head ``rm_head``
    (Linear 32 -> 1024, ReLU, Dropout, Linear 1024 -> 16, ReLU, Linear 16 -> 2, keys 0, 3, 5).
    """
    from safetensors.torch import save_file

    tokenizer = tiny_qwen_tokenizer()
    token_ids = dict(zip(QWEN_SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS))))
    config = tiny_qwen2_vl_config(token_ids)
    base_folder.mkdir(parents=True, exist_ok=True)
    (base_folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file(seeded_state_dict(qwen2_vl_official_shapes(config, TINY_QWEN_VOCABULARY), seed + 1),
              str(base_folder / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save_pretrained(str(base_folder))
    (base_folder / "preprocessor_config.json").write_text(json.dumps(QWEN2_VL_PREPROCESSOR_CONFIG, indent=2))
    (base_folder / "chat_template.json").write_text(json.dumps({"chat_template": TINY_QWEN2_5_VL_TEMPLATE}, indent=2))

    shapes = qwen2_vl_official_shapes(config, len(tokenizer) + 1)
    hidden = config["hidden_size"]
    shapes.update({"rm_head.0.weight": (1024, hidden), "rm_head.0.bias": (1024,), "rm_head.3.weight": (16, 1024),
                   "rm_head.3.bias": (16,), "rm_head.5.weight": (2, 16), "rm_head.5.bias": (2,)})
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    save_file(seeded_state_dict(shapes, seed), str(checkpoint), metadata={"format": "pt"})
    return base_folder, checkpoint


TINY_WAN_VAE_NAME = "noise_search_tiny_wan_2.1_vae.safetensors"


def write_tiny_wan_vae(path: Path, seed: int = 0) -> Path:
    """Save a Wan 2.1 video VAE of ComfyUI's own class with 8 base channels (the released one has 96), random
    weights: ComfyUI reads the width from the file and builds the same architecture (4× in time, 8× in space)."""
    import safetensors.torch
    from comfy.ldm.wan.vae import WanVAE

    model = WanVAE(dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                   temperal_downsample=[False, True, True], dropout=0.0)
    initialise(model, seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("gamma"):  # its RMS norms' scales
                parameter.fill_(1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, str(path))
    return path


TINY_WAN_NAME = "noise_search_tiny_wan_2.1_t2v.safetensors"
WAN_TEXT_WIDTH = 4096
"""The width of Wan's text conditioning (umt5-xxl's), which ComfyUI builds every Wan 2.1 model with."""


def write_tiny_wan(path: Path, seed: int = 0) -> Path:
    """Save a Wan 2.1 text-to-video diffusion model of ComfyUI's own class, one block of width 128 (one head: ComfyUI
    reads heads as width / 128), random weights, in the released file's key layout, for UNETLoader."""
    import comfy.ops
    import safetensors.torch
    from comfy.ldm.wan.model import WanModel

    model = WanModel(model_type="t2v", dim=128, ffn_dim=256, num_heads=1, num_layers=1, in_dim=16, out_dim=16,
                     text_dim=WAN_TEXT_WIDTH, operations=comfy.ops.manual_cast)
    initialise(model, seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("modulation"):  # the released model's adaptive-norm offsets are small
                parameter.mul_(0.1)
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, str(path))
    return path
