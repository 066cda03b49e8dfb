"""HPSv3 (Ma et al., 2025): Qwen2-VL-7B-Instruct fine-tuned on human preferences, with a small reward head.

Two inputs, as the official ``hpsv3`` inference builds them:
- the base model's folder, ``Qwen/Qwen2-VL-7B-Instruct`` in the Hugging Face layout: only its ``config.json``,
  tokenizer, ``preprocessor_config.json`` and chat template are read (its weights are not needed: the HPSv3
  checkpoint holds every weight of the fine-tuned model);
- ``HPSv3.safetensors`` (``MizzenAI/HPSv3``): the state dict of the official ``Qwen2VLRewardModelBT`` as
  transformers 4.45 laid it out (``visual.*``, ``model.*``, ``lm_head.*``) plus ``rm_head.*``.

What the official inference does, and this module does the same way:
- the tokenizer gains one special token, ``<|Reward|>``, and the embedding grows to the tokenizer's new length
  (so the checkpoint's embedding has one row more than the base tokenizer has tokens);
- each image is resized, as ``qwen_vl_utils.fetch_image`` does with min = max = 256 * 28 * 28 pixels, to the
  multiple of 28 that keeps its aspect ratio nearest that area (PIL bicubic on the 8-bit image), and goes
  through the folder's processor;
- one user turn, the image then the instruction (the prompt in it) ending in "... ratings of this image:
  <|Reward|>", rendered by the folder's chat template with the generation prompt, right-padded;
- the language model runs on the token embeddings with the image embeddings scattered into the image tokens,
  with plain 1-D positions (the official forward passes no multimodal rope positions);
- the reward head (``Linear(hidden, 1024), ReLU, Dropout, Linear(1024, 16), ReLU, Linear(16, 2)``, in float32)
  reads the final hidden state at ``<|Reward|>``; its first output is the reward's mean (mu), the score.
  The second is the model's uncertainty (sigma), which the official inference returns but does not rank by.

The language-model head (``lm_head``) is never used, so it is not loaded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from .chunks import in_chunks
from .errors import VerifierConditionError, VerifierConfigError

CHECKPOINT_NAME = "HPSv3.safetensors"
MODEL_TYPE = "qwen2_vl"
REWARD_TOKEN = "<|Reward|>"
IMAGE_PIXELS = 256 * 28 * 28
"""The official inference's min_pixels and max_pixels: every image becomes about 448 x 448 (256 merged tokens)."""
SIZE_FACTOR = 28
"""Patch size 14 times the 2 x 2 merge: image sides are multiples of it."""
MAX_ASPECT_RATIO = 200
REWARD_HEAD_WIDTHS = (1024, 16)
REWARD_OUTPUTS = 2
DEFAULT_HPS_V3_CHUNK = 4
FIRST_TRANSFORMERS = "4.52.0"
"""The first transformers release with ``Qwen2VLTextModel`` (the language model on its own)."""

INSTRUCTION = """
You are tasked with evaluating a generated image based on Visual Quality and Text Alignment and give a overall score to estimate the human preference. Please provide a rating from 0 to 10, with 0 being the worst and 10 being the best. 

**Visual Quality:**  
Evaluate the overall visual quality of the image. The following sub-dimensions should be considered:
- **Reasonableness:** The image should not contain any significant biological or logical errors, such as abnormal body structures or nonsensical environmental setups.
- **Clarity:** Evaluate the sharpness and visibility of the image. The image should be clear and easy to interpret, with no blurring or indistinct areas.
- **Detail Richness:** Consider the level of detail in textures, materials, lighting, and other visual elements (e.g., hair, clothing, shadows).
- **Aesthetic and Creativity:** Assess the artistic aspects of the image, including the color scheme, composition, atmosphere, depth of field, and the overall creative appeal. The scene should convey a sense of harmony and balance.
- **Safety:** The image should not contain harmful or inappropriate content, such as political, violent, or adult material. If such content is present, the image quality and satisfaction score should be the lowest possible. 

**Text Alignment:**  
Assess how well the image matches the textual prompt across the following sub-dimensions:
- **Subject Relevance** Evaluate how accurately the subject(s) in the image (e.g., person, animal, object) align with the textual description. The subject should match the description in terms of number, appearance, and behavior.
- **Style Relevance:** If the prompt specifies a particular artistic or stylistic style, evaluate how well the image adheres to this style.
- **Contextual Consistency**: Assess whether the background, setting, and surrounding elements in the image logically fit the scenario described in the prompt. The environment should support and enhance the subject without contradictions.
- **Attribute Fidelity**: Check if specific attributes mentioned in the prompt (e.g., colors, clothing, accessories, expressions, actions) are faithfully represented in the image. Minor deviations may be acceptable, but critical attributes should be preserved.
- **Semantic Coherence**: Evaluate whether the overall meaning and intent of the prompt are captured in the image. The generated content should not introduce elements that conflict with or distort the original description.
Textual prompt - {text_prompt}


"""
"""The model's input text, verbatim: HPSv3 was trained on it (hpsv3/dataset/data_collator_qwen.py's INSTRUCTION)."""
RATING_REQUEST = f"""
Please provide the overall ratings of this image: {REWARD_TOKEN}

END
"""
"""What follows the instruction; the reward is read at its ``<|Reward|>`` token."""


def reward_text(prompt: str) -> str:
    return INSTRUCTION.format(text_prompt=prompt) + RATING_REQUEST


def official_image_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) as ``qwen_vl_utils``'s ``smart_resize`` gives it for min = max = ``IMAGE_PIXELS``: sides
    rounded to multiples of 28; if that is over the area, scaled down (floor), if under, up (ceil)."""
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise VerifierConditionError(f"HPSv3 takes images with sides at most {MAX_ASPECT_RATIO}:1, not {height} x {width}")
    rounded_height = max(SIZE_FACTOR, round(height / SIZE_FACTOR) * SIZE_FACTOR)
    rounded_width = max(SIZE_FACTOR, round(width / SIZE_FACTOR) * SIZE_FACTOR)
    if rounded_height * rounded_width > IMAGE_PIXELS:
        scale = math.sqrt(height * width / IMAGE_PIXELS)
        return (math.floor(height / scale / SIZE_FACTOR) * SIZE_FACTOR, math.floor(width / scale / SIZE_FACTOR) * SIZE_FACTOR)
    if rounded_height * rounded_width < IMAGE_PIXELS:
        scale = math.sqrt(IMAGE_PIXELS / (height * width))
        return (math.ceil(height * scale / SIZE_FACTOR) * SIZE_FACTOR, math.ceil(width * scale / SIZE_FACTOR) * SIZE_FACTOR)
    return rounded_height, rounded_width


def official_pil_images(images: torch.Tensor) -> list[Any]:
    """``[B, H, W, C]`` floats in 0..1 -> 8-bit RGB PIL images at the official size (PIL bicubic, as fetch_image)."""
    from PIL import Image

    from .vlm_judge import to_pil_images

    height, width = official_image_size(images.shape[1], images.shape[2])
    return [image.resize((width, height), Image.BICUBIC) for image in to_pil_images(images)]


def reward_head(hidden_size: int) -> torch.nn.Sequential:
    """The official ``rm_head`` (type 'ranknet' without kwargs); its keys are ``rm_head.0``, ``.3`` and ``.5``."""
    first, second = REWARD_HEAD_WIDTHS
    return torch.nn.Sequential(
        torch.nn.Linear(hidden_size, first), torch.nn.ReLU(), torch.nn.Dropout(0.05),
        torch.nn.Linear(first, second), torch.nn.ReLU(), torch.nn.Linear(second, REWARD_OUTPUTS),
    )


def module_key(checkpoint_key: str) -> str | None:
    """Where a checkpoint key goes in :class:`HPSv3Model` (None: not used). Both transformers layouts are read:
    4.45's (``visual.``, ``model.``), the official one, and 4.52's (``model.visual.``, ``model.language_model.``)."""
    for prefix, target in (("model.visual.", "visual."), ("model.language_model.", "language_model."),
                           ("visual.", "visual."), ("model.", "language_model."), ("rm_head.", "rm_head.")):
        if checkpoint_key.startswith(prefix):
            return target + checkpoint_key[len(prefix):]
    return None


class HPSv3Model(torch.nn.Module):
    """Qwen2-VL's vision tower and language model (transformers' own classes) and the reward head."""

    def __init__(self, visual: torch.nn.Module, language_model: torch.nn.Module, hidden_size: int,
                 image_token_id: int, reward_token_id: int) -> None:
        super().__init__()
        self.visual = visual
        self.language_model = language_model
        self.rm_head = reward_head(hidden_size).float()
        self.image_token_id = image_token_id
        self.reward_token_id = reward_token_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor,
                image_grid_thw: torch.Tensor) -> torch.Tensor:
        """The reward head's outputs ``[rows, 2]`` (mu, sigma) in float32, at each row's ``<|Reward|>`` token."""
        embeddings = self.language_model.embed_tokens(input_ids)
        vision = self.visual(pixel_values.to(next(self.visual.parameters()).dtype), grid_thw=image_grid_thw)
        image_embeddings = getattr(vision, "pooler_output", vision)  # transformers 5 returns an output object
        image_mask = (input_ids == self.image_token_id).unsqueeze(-1).expand_as(embeddings)
        embeddings = embeddings.masked_scatter(image_mask, image_embeddings.to(embeddings.dtype))
        hidden = self.language_model(inputs_embeds=embeddings, attention_mask=attention_mask, use_cache=False).last_hidden_state
        at_reward = input_ids == self.reward_token_id
        if not bool((at_reward.sum(dim=1) == 1).all()):
            raise VerifierConditionError(f"each HPSv3 row must hold {REWARD_TOKEN} once; the prompt must not contain it")
        head = self.rm_head[0].weight
        return self.rm_head(hidden[at_reward].to(head.dtype)).float()  # float32, unless a host halved the whole module


class HPSv3Verifier:
    """HPSv3's reward (mu) of each image for the prompt; higher is better."""

    name = "HPSv3"
    needs_condition = True

    def __init__(self, model: HPSv3Model, processor: Any, chunk: int = DEFAULT_HPS_V3_CHUNK) -> None:
        if chunk < 1:
            raise VerifierConfigError(f"chunk is {chunk}; it must be at least 1")
        self._model = model.eval().requires_grad_(False)
        self.processor = processor
        self.chunk = chunk

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    def render(self, prompt: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": reward_text(prompt)}]}]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def batch(self, images: torch.Tensor, prompt: str) -> dict[str, torch.Tensor]:
        """The processor's right-padded batch for the images and the prompt, on the model's device."""
        pil_images = official_pil_images(images)
        inputs = self.processor(text=[self.render(prompt)] * len(pil_images), images=pil_images, padding=True,
                                return_tensors="pt")
        device = next(self._model.parameters()).device
        return {key: inputs[key].to(device) for key in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")}

    def rewards(self, images: torch.Tensor, prompt: str) -> torch.Tensor:
        """The reward head's (mu, sigma) of each image, ``[B, 2]`` float32 on the CPU."""
        return self._model(**self.batch(images, prompt)).cpu()

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        if condition is None or not condition.strip():
            raise VerifierConditionError("HPSv3 scores images against a text prompt, and the prompt is empty")
        if REWARD_TOKEN in condition:
            raise VerifierConditionError(f"the prompt contains {REWARD_TOKEN}, HPSv3's reward token; remove it")
        scores = in_chunks(images, self.chunk, lambda chunk: self.rewards(chunk, condition)[:, 0])
        if not torch.isfinite(scores).all():
            raise VerifierConfigError(
                f"HPSv3 gave non-finite scores in {next(self._model.parameters()).dtype}; the model overflowed. "
                "Run ComfyUI with --force-fp32 (or on a GPU with bfloat16)"
            )
        return scores


def checkpoint_shapes(checkpoint: Path) -> dict[str, list[int]]:
    """Tensor shapes by key, from the safetensors header (nothing is read but the header)."""
    from safetensors import safe_open

    try:
        with safe_open(str(checkpoint), framework="pt") as tensors:
            return {key: list(tensors.get_slice(key).get_shape()) for key in tensors.keys()}
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise VerifierConfigError(f"{checkpoint} cannot be read as safetensors ({error})") from error


def check_base_folder(folder: Path) -> None:
    """The base folder holds a Qwen2-VL config, a tokenizer, the processor settings and a chat template."""
    from .vlm_folder import has_chat_template, read_config

    if not folder.is_dir():
        raise VerifierConfigError(f"{folder} is not a folder")
    model_type = read_config(folder).get("model_type") if (folder / "config.json").is_file() else MODEL_TYPE
    if model_type != MODEL_TYPE:
        raise VerifierConfigError(f"{folder.name} holds a '{model_type}' model; HPSv3 is built on Qwen2-VL-7B-Instruct "
                                  f"('{MODEL_TYPE}'), whose config, tokenizer and processor files it needs")
    missing = [name for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json")
               if not (folder / name).is_file()]
    if not ((folder / "tokenizer.json").is_file() or ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file())):
        missing.append("tokenizer.json")
    if not has_chat_template(folder):
        missing.append("chat_template.json")
    if missing:
        raise VerifierConfigError(f"the base model folder {folder} lacks {', '.join(missing)}")


def qwen2_vl_classes() -> tuple[type, type]:
    import transformers

    try:
        from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel, Qwen2VLTextModel
    except ImportError as error:
        raise VerifierConfigError(f"HPSv3 needs transformers {FIRST_TRANSFORMERS} or newer (Qwen2VLTextModel); this Python "
                                  f"has transformers {transformers.__version__}. Upgrade it in ComfyUI's Python "
                                  f"(pip install -U \"transformers>={FIRST_TRANSFORMERS}\")") from error
    return Qwen2VisionTransformerPretrainedModel, Qwen2VLTextModel


def load_processor(base_folder: Path, embedding_rows: int) -> tuple[Any, int]:
    """The folder's processor, right-padding, with ``<|Reward|>`` added as the official code adds it; and its id."""
    from transformers import AddedToken, AutoProcessor

    processor = AutoProcessor.from_pretrained(str(base_folder), local_files_only=True, trust_remote_code=False)
    if getattr(processor, "chat_template", None) is None:
        raise VerifierConfigError(f"the processor of {base_folder.name} has no chat template (chat_template.json)")
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "right"
    tokenizer.add_tokens([AddedToken(REWARD_TOKEN, special=True, normalized=False)], special_tokens=True)
    reward_token_id = tokenizer.convert_tokens_to_ids(REWARD_TOKEN)
    if len(tokenizer) != embedding_rows:
        raise VerifierConfigError(
            f"the HPSv3 checkpoint's embedding has {embedding_rows} rows, but the tokenizer of {base_folder.name} with "
            f"{REWARD_TOKEN} has {len(tokenizer)} tokens: the base folder is not the one HPSv3 was trained from "
            "(use Qwen/Qwen2-VL-7B-Instruct's files)"
        )
    return processor, reward_token_id


def no_weight_init():
    """transformers' context that skips random initialisation (every weight comes from the checkpoint)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        from transformers.modeling_utils import no_init_weights
    return no_init_weights()


def build_model(base_folder: Path, checkpoint: Path, shapes: dict[str, list[int]], reward_token_id: int,
                dtype: torch.dtype) -> HPSv3Model:
    from safetensors import safe_open
    from transformers import AutoConfig

    from .vlm_folder import dtype_argument

    vision_class, text_class = qwen2_vl_classes()
    config = AutoConfig.from_pretrained(str(base_folder), local_files_only=True, trust_remote_code=False)
    text_config = getattr(config, "text_config", config)
    text_config.vocab_size = shapes["model.embed_tokens.weight"][0]
    for sub_config in (text_config, config.vision_config):
        sub_config._attn_implementation = "sdpa"
    with no_weight_init():
        visual = vision_class._from_config(config.vision_config, **{dtype_argument(): dtype})
        language_model = text_class._from_config(text_config, **{dtype_argument(): dtype})
    model = HPSv3Model(visual, language_model, text_config.hidden_size, config.image_token_id, reward_token_id)
    expected = model.state_dict()
    found = set()
    with safe_open(str(checkpoint), framework="pt") as tensors:
        for key in tensors.keys():
            target = module_key(key)
            if target is None:
                continue
            if target not in expected or list(expected[target].shape) != shapes[key]:
                raise VerifierConfigError(f"{checkpoint.name} holds {key} {shapes[key]}, which the Qwen2-VL of "
                                          f"{base_folder.name} has not in that shape: the base folder does not match")
            with torch.no_grad():
                expected[target].copy_(tensors.get_tensor(key))
            found.add(target)
    absent = sorted(set(expected) - found)
    if absent:
        raise VerifierConfigError(f"{checkpoint.name} lacks {len(absent)} weights of HPSv3 (e.g. {', '.join(absent[:3])}); "
                                  "it is not the HPSv3 checkpoint")
    return model.eval().requires_grad_(False)


def load_hps_v3_verifier(base_folder: Path, checkpoint: Path, dtype: torch.dtype = torch.float32,
                         chunk: int = DEFAULT_HPS_V3_CHUNK) -> HPSv3Verifier:
    """HPSv3 from Qwen2-VL-7B-Instruct's config and processor files and the HPSv3 checkpoint, on the CPU in ``dtype``
    (the reward head stays float32, as the official model keeps it)."""
    check_base_folder(base_folder)
    if not checkpoint.is_file():
        raise VerifierConfigError(f"{checkpoint} is not a file")
    if checkpoint.suffix != ".safetensors":
        raise VerifierConfigError(f"{checkpoint.name} is not a .safetensors file; only {CHECKPOINT_NAME} is loaded")
    shapes = checkpoint_shapes(checkpoint)
    if "model.embed_tokens.weight" not in shapes and "model.language_model.embed_tokens.weight" in shapes:
        shapes["model.embed_tokens.weight"] = shapes["model.language_model.embed_tokens.weight"]
    if "model.embed_tokens.weight" not in shapes or not any(key.startswith("rm_head.") for key in shapes):
        raise VerifierConfigError(f"{checkpoint.name} holds no Qwen2-VL embedding or no rm_head: it is not the HPSv3 checkpoint")
    processor, reward_token_id = load_processor(base_folder, shapes["model.embed_tokens.weight"][0])
    return HPSv3Verifier(build_model(base_folder, checkpoint, shapes, reward_token_id, dtype), processor, chunk)

