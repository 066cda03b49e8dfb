"""HPSv2 / HPSv2.1 (Wu et al., 2023): open_clip's ViT-H-14 fine-tuned on HPD v2's human choices between images.

The released weights are ``HPS_v2.1_compressed.pt`` (or v2.0's ``HPS_v2_compressed.pt``) from the Hugging Face
repository ``xswu/HPSv2``: ``{"state_dict": ...}`` holding the whole CLIP (both towers), which the official code
loads strictly into open_clip's ``ViT-H-14``, so no other weights are needed. A folder may hold an
``open_clip_config.json`` (open_clip's own format) beside the checkpoint to name another architecture; without
one the architecture is ViT-H-14, as the official code hard-codes.

What the official scoring (the ``hpsv2`` package's ``img_score.score``) does, and so what this does:
- the image: its validation transform (``light_augmentation=True``): the longest side to 224 (bicubic,
  antialiased on tensors), zero padding to a square, OpenAI CLIP's mean/std
  (:func:`official_preprocessing.longest_side_padded_pixels`); not the usual centre crop;
- the prompt: open_clip's tokenizer for the architecture (77 tokens);
- the score: unit image embedding · unit text embedding, a cosine with no logit scale (higher is better);
  each image's score depends on that image and the prompt alone.

The ``hpsv2`` package itself pins old protobuf and pytest and vendors its own open_clip, so it is not a
dependency: its CLIP and open_clip's have the same keys and compute the same functions.
``tests/unit/test_hps_v2.py`` checks the scores against the official code
(``tests/fixtures/make_hps_v2_reference.py``).
"""

from __future__ import annotations

import logging
import pickle
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from .chunks import DEFAULT_CHUNK, in_chunks
from .errors import VerifierConditionError, VerifierConfigError
from .official_preprocessing import longest_side_padded_pixels

RELEASED_ARCHITECTURE = "ViT-H-14"
CONFIG_FILENAME = "open_clip_config.json"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
"""hpsv2 takes the mean/std of ViT-H-14's laion2b_s32b_b79k weights, which name none: open_clip's OpenAI defaults."""

Tokenizer = Callable[[list[str]], torch.Tensor]


def load_hps_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's ``state_dict`` (plain tensors only: read with ``weights_only=True``)."""
    try:
        loaded = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:  # a pickle that needs code is not run
        raise VerifierConfigError(f"{checkpoint.name} cannot be read as a plain tensor checkpoint: {error}") from error
    state = loaded.get("state_dict") if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or "visual.proj" not in state:
        found = sorted(loaded)[:4] if isinstance(loaded, dict) else type(loaded).__name__
        raise VerifierConfigError(
            f"{checkpoint.name} is not an HPSv2 checkpoint (HPS_v2.1_compressed.pt from xswu/HPSv2): expected "
            f"{{'state_dict': open_clip CLIP weights}}, found {found}"
        )
    return state


def architecture_of(checkpoint: Path) -> str:
    """open_clip's model name for the checkpoint: its folder's open_clip_config.json, else ViT-H-14."""
    return f"local-dir:{checkpoint.parent}" if (checkpoint.parent / CONFIG_FILENAME).is_file() else RELEASED_ARCHITECTURE


@contextmanager
def open_clip_quiet() -> Iterator[None]:
    """Silence open_clip's "no pretrained weights loaded, model initialized randomly" warning: the weights come next."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def build_hps_model(state: dict[str, torch.Tensor], architecture: str) -> torch.nn.Module:
    """open_clip's CLIP with the checkpoint's tensors: built on the meta device (no random initialisation of a
    billion weights), given every tensor of the checkpoint, and its one derived buffer rebuilt."""
    import open_clip

    with torch.device("meta"), open_clip_quiet():
        model = open_clip.create_model(architecture, load_weights=False, device="meta")
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong_shapes = [f"{key} {tuple(state[key].shape)} (expected {tuple(expected[key].shape)})"
                    for key in sorted(set(expected) & set(state)) if state[key].shape != expected[key].shape]
    if missing or unexpected or wrong_shapes:
        raise VerifierConfigError(
            f"the checkpoint does not fit open_clip's {architecture}: missing {missing[:4]}, unexpected "
            f"{unexpected[:4]}, shapes {wrong_shapes[:2]} (HPSv2 checkpoints are ViT-H-14; another architecture "
            f"needs its {CONFIG_FILENAME} beside the checkpoint)"
        )
    model.load_state_dict({key: tensor.float() for key, tensor in state.items()}, strict=True, assign=True)
    # The text tower's causal mask is a non-persistent buffer (not in any checkpoint): -inf above the diagonal.
    model.attn_mask = torch.full(model.attn_mask.shape, float("-inf")).triu_(1)
    left_on_meta = [name for name, tensor in chain(model.named_parameters(), model.named_buffers()) if tensor.is_meta]
    if left_on_meta:
        raise VerifierConfigError(f"open_clip's {architecture} has tensors no checkpoint holds: {left_on_meta}")
    return model


class HPSv2Verifier:
    """HPSv2's human-preference score of each image for the prompt (a cosine; higher is better)."""

    name = "HPSv2"
    needs_condition = True

    def __init__(self, model: torch.nn.Module, tokenizer: Tokenizer, chunk: int = DEFAULT_CHUNK) -> None:
        self._model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        image_size = model.visual.image_size
        self.image_size = int(image_size[0] if isinstance(image_size, (tuple, list)) else image_size)
        self.chunk = chunk

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        return longest_side_padded_pixels(images, self.image_size, OPENAI_MEAN, OPENAI_STD)

    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        parameter = next(self._model.parameters())
        features = self._model.encode_image(self.pixels(images).to(parameter.device, parameter.dtype))
        return F.normalize(features.float(), dim=-1)

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        if condition is None or not condition.strip():
            raise VerifierConditionError("HPSv2 scores images against a text prompt, and the prompt is empty")
        device = next(self._model.parameters()).device
        text = F.normalize(self._model.encode_text(self.tokenizer([condition]).to(device)).float(), dim=-1)
        return in_chunks(images, self.chunk, lambda chunk: (self.image_embeddings(chunk) @ text.T)[:, 0].cpu())


def load_hps_v2_verifier(checkpoint: Path) -> HPSv2Verifier:
    """HPSv2 from ``HPS_v2.1_compressed.pt`` (or v2.0's), in its architecture (see :func:`architecture_of`)."""
    import open_clip

    architecture = architecture_of(checkpoint)
    model = build_hps_model(load_hps_state(checkpoint), architecture)
    tokenizer: Any = open_clip.get_tokenizer(architecture)
    return HPSv2Verifier(model, tokenizer)
