"""PickScore (Kirstain et al., 2023): CLIP-H fine-tuned on Pick-a-Pic's human choices between images for a prompt.

Two folders, as the official inference code loads them:
- the model, ``yuvalkirstain/PickScore_v1``: a transformers ``CLIPModel`` folder (``config.json`` and
  ``model.safetensors``; its ``pytorch_model.bin`` is a pickle and is not read);
- the processor, ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``'s ``preprocessor_config.json`` and tokenizer files.

The score is the official one before its softmax across images: ``logit_scale.exp()`` times the cosine
between the image and prompt embeddings (higher is better). The official code's softmax across images
would make each image's score depend on the rest of the batch, so it is left out.

The image embedding is ``visual_projection(vision_model(pixels).pooler_output)`` and the text embedding
``text_projection(text_model(ids, mask).pooler_output)``: what ``get_image_features`` / ``get_text_features``
compute, spelled out because their return type changed in transformers 5. The pixels are the processor's,
computed in torch on the float images (:func:`official_preprocessing.clip_processor_pixels`); the tokens
are the processor's tokenizer's, with the official ``padding=True, truncation=True, max_length=77``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .chunks import DEFAULT_CHUNK, in_chunks
from .errors import VerifierConditionError, VerifierConfigError
from .official_preprocessing import clip_processor_pixels

MAX_PROMPT_TOKENS = 77
BICUBIC = 3
"""PIL's code for bicubic resampling, as preprocessor_config.json's ``resample`` stores it."""
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PREPROCESSOR_CONFIG = "preprocessor_config.json"


@dataclass(frozen=True)
class ClipProcessorSettings:
    """What a CLIP ``preprocessor_config.json`` says about turning an image into pixel values."""

    shortest_edge: int
    crop: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]


def edge_of(value: Any, key: str) -> int | None:
    """A size entry in either of its saved forms: a plain int (older files) or a dict."""
    return value if isinstance(value, int) else value.get(key) if isinstance(value, dict) else None


def read_clip_processor_settings(path: Path) -> ClipProcessorSettings:
    """The settings of a CLIPImageProcessor config; anything this pack does not reproduce is refused."""
    config = json.loads(path.read_text())
    flags = {key: config.get(key, True) for key in ("do_resize", "do_center_crop", "do_normalize", "do_rescale")}
    size = config.get("size", 224)
    shortest_edge = edge_of(size, "shortest_edge")
    crop_size = config.get("crop_size", 224)
    crop = (crop_size, crop_size) if isinstance(crop_size, int) else (crop_size.get("height"), crop_size.get("width"))
    problems = [f"{key} is false" for key, value in flags.items() if not value]
    if shortest_edge is None:
        problems.append(f"size {size} is not a shortest-edge size")
    if None in crop:
        problems.append(f"crop_size {crop_size} has no height and width")
    if config.get("resample", BICUBIC) != BICUBIC:
        problems.append(f"resample {config['resample']} is not bicubic ({BICUBIC})")
    if abs(config.get("rescale_factor", 1 / 255) - 1 / 255) > 1e-12:
        problems.append(f"rescale_factor {config['rescale_factor']} is not 1/255")
    if problems:
        raise VerifierConfigError(f"{path} is not a CLIP processor configuration this verifier reproduces: "
                                  + "; ".join(problems))
    return ClipProcessorSettings(shortest_edge, crop, tuple(config["image_mean"]), tuple(config["image_std"]))


class PickScoreModule(torch.nn.Module):
    """The CLIPModel inside a plain module: ComfyUI's ModelPatcher sets ``module.device``, which transformers models
    expose as a read-only property."""

    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip = clip


class PickScoreVerifier:
    """PickScore of each image for the prompt: the cosine in the fine-tuned CLIP space times its learned logit scale."""

    name = "PickScore"
    needs_condition = True

    def __init__(self, model: Any, tokenizer: Any, processor: ClipProcessorSettings, chunk: int = DEFAULT_CHUNK) -> None:
        vocabulary = model.config.text_config.vocab_size
        if len(tokenizer) > vocabulary:
            raise VerifierConfigError(
                f"the tokenizer has {len(tokenizer)} tokens but the text model only {vocabulary} "
                "(use the processor files of laion/CLIP-ViT-H-14-laion2B-s32B-b79K)"
            )
        self._model = PickScoreModule(model).eval().requires_grad_(False)
        self.clip = model
        self.logit_scale = float(model.logit_scale.float().exp())  # read in fp32, before a host may halve the weights
        self.tokenizer = tokenizer
        self.processor = processor
        self.chunk = chunk

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    def tokens(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.tokenizer(prompt, padding=True, truncation=True, max_length=MAX_PROMPT_TOKENS, return_tensors="pt")
        return encoded.input_ids, encoded.attention_mask

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        settings = self.processor
        return clip_processor_pixels(images, settings.shortest_edge, settings.crop, settings.mean, settings.std)

    def text_embedding(self, prompt: str) -> torch.Tensor:
        """The prompt's unit-length embedding, ``[1, D]`` in float32."""
        device = next(self.clip.parameters()).device
        input_ids, attention_mask = self.tokens(prompt)
        pooled = self.clip.text_model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).pooler_output
        return F.normalize(self.clip.text_projection(pooled).float(), dim=-1)

    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings ``[B, D]`` in float32."""
        parameter = next(self.clip.parameters())
        pooled = self.clip.vision_model(pixel_values=self.pixels(images).to(parameter.device, parameter.dtype)).pooler_output
        return F.normalize(self.clip.visual_projection(pooled).float(), dim=-1)

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        if condition is None or not condition.strip():
            raise VerifierConditionError("PickScore scores images against a text prompt, and the prompt is empty")
        text = self.text_embedding(condition)
        return in_chunks(images, self.chunk, lambda chunk: (self.logit_scale * self.image_embeddings(chunk) @ text.T)[:, 0].cpu())


def load_pick_score_verifier(model_folder: Path, processor_folder: Path) -> PickScoreVerifier:
    """PickScore from a CLIPModel folder (PickScore_v1) and a CLIP processor folder (CLIP-ViT-H-14's)."""
    from transformers import AutoTokenizer, CLIPModel

    if not (model_folder / "config.json").is_file():
        raise VerifierConfigError(f"{model_folder} is not a transformers CLIPModel folder (no config.json)")
    if not any((model_folder / name).is_file() for name in SAFETENSORS_FILES):
        pickled = " (its pytorch_model.bin is a pickle, which this pack does not load)" \
            if (model_folder / "pytorch_model.bin").is_file() else ""
        raise VerifierConfigError(f"{model_folder} holds no model.safetensors{pickled}; download model.safetensors "
                                  "from yuvalkirstain/PickScore_v1")
    if json.loads((model_folder / "config.json").read_text()).get("model_type") != "clip":
        raise VerifierConfigError(f"{model_folder / 'config.json'} does not describe a CLIP model (model_type 'clip')")
    if not (processor_folder / PREPROCESSOR_CONFIG).is_file():
        raise VerifierConfigError(f"{processor_folder} holds no {PREPROCESSOR_CONFIG} (use the processor files of "
                                  "laion/CLIP-ViT-H-14-laion2B-s32B-b79K)")
    settings = read_clip_processor_settings(processor_folder / PREPROCESSOR_CONFIG)
    model = CLIPModel.from_pretrained(str(model_folder), local_files_only=True, use_safetensors=True).float()
    tokenizer = AutoTokenizer.from_pretrained(str(processor_folder), local_files_only=True)
    return PickScoreVerifier(model, tokenizer, settings)
