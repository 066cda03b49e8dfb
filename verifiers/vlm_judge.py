"""The VLM judge: a local vision-language model (Qwen2.5-VL, Qwen3-VL) that scores each image from the
next-token distribution of one forward pass, with no generation and nothing to parse.

- ``question`` (VQAScore, Lin et al. 2024): log P("Yes" | image, question), the question being the template
  with ``verifier_text`` in it. The log-probability is over the whole vocabulary (not renormalised over
  {Yes, No}), as VQAScore defines it; it lies in (-inf, 0], higher is better.
- ``rubric`` (the paper's LLM grader, made local): for each aspect, the probability-weighted mean grade
  sum_d d * P(d) / sum_d P(d) over the ten digit tokens "0" .. "9" (renormalised over the digits, so the
  score is the expected grade given that the model answers with a grade; 0 to 9). ``overall`` is the
  mean of the five aspects. Continuous and deterministic, so candidates do not tie.

"Yes" and each digit must be one token of the folder's tokenizer (they are in Qwen's, after the
generation prompt "<|im_start|>assistant\\n"); a tokenizer that splits them is refused rather than scored
on a fragment.

Every (image, question) pair is one row: the image, quantised to 8-bit RGB as a saved image would be, and
the question rendered by the folder's chat template; the folder's processor turns the rows into one
left-padded batch, so the last position of every row is its first answer token. Rows go through the model
in passes of at most ``max_batch_size`` (a pass that runs out of GPU memory is retried in halves), so a
large batch is scored in chunks and never dropped; a padded pass scores as its rows one at a time do,
within float rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import VerifierConditionError, VerifierConfigError
from .vlm_folder import check_vlm_folder, load_vlm
from .vlm_prompts import (
    DEFAULT_QUESTION_TEMPLATE,
    GRADES,
    MODES,
    OVERALL,
    QUESTION,
    YES,
    aspects_for,
    check_question_template,
    question_text,
    rubric_question,
)

THINKING_OPENER = "<think>"
"""What the chat templates of Qwen's reasoning models put after the generation prompt."""


@contextmanager
def last_position_logits(model: torch.nn.Module) -> Iterator[None]:
    """Let the output head see only the last position: the judge reads one next-token distribution per row,
    and the full ``[rows, positions, vocabulary]`` logits of a 7B model on a 1024 px image are gigabytes.

    (``logits_to_keep`` does the same, but transformers 4.50 lacks it for these models.)
    """

    def keep_last(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if args and isinstance(args[0], torch.Tensor) and args[0].ndim == 3:
            return (args[0][:, -1:], *args[1:])
        return None

    handle = model.get_output_embeddings().register_forward_pre_hook(keep_last)
    try:
        yield
    finally:
        handle.remove()


class VLMJudgeModel(torch.nn.Module):
    """A transformers vision-language model and its processor, in a plain module.

    ComfyUI's ModelPatcher sets ``device`` on the module it manages, which transformers models expose
    read-only; the judges of one folder (any mode or aspect) share one of these.
    """

    def __init__(self, model: torch.nn.Module, processor: Any, name: str) -> None:
        super().__init__()
        self.vlm = model
        self.processor = processor
        self.model_name = name
        processor.tokenizer.padding_side = "left"
        if self.render("Is it?").rstrip().endswith(THINKING_OPENER):
            raise VerifierConfigError(
                f"{name} is a reasoning ('Thinking') model: its chat template opens the answer with {THINKING_OPENER}, "
                "so the next token starts a chain of thought, not the answer. Use an Instruct model"
            )

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        """The next-token logits ``[rows, vocabulary]`` after each (left-padded) row."""
        with last_position_logits(self.vlm):
            return self.vlm(**inputs, use_cache=False).logits[:, -1]

    def render(self, question: str) -> str:
        """One user turn (the image, then the question) in the folder's chat template, with the generation prompt."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def single_token(self, text: str) -> int:
        ids = self.processor.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            raise VerifierConfigError(
                f"the tokenizer of {self.model_name} splits '{text}' into {len(ids)} tokens; the VLM judge reads the "
                "answer from one next-token distribution, so it needs the tokenizer of a Qwen2.5-VL or Qwen3-VL model"
            )
        return ids[0]

    def batch(self, prompts: list[str], images: list[Any]) -> dict[str, torch.Tensor]:
        """The processor's left-padded batch for rows of (prompt, image), on the model's device."""
        # A copy of the list: older processors write the expanded image tokens back into the list they are given.
        inputs = self.processor(text=list(prompts), images=list(images), padding=True, return_tensors="pt")
        parameter = next(self.vlm.parameters())
        return {key: value.to(parameter.device, parameter.dtype) if value.is_floating_point() else value.to(parameter.device)
                for key, value in inputs.items() if isinstance(value, torch.Tensor)}


def to_pil_images(images: torch.Tensor) -> list[Any]:
    """``[B, H, W, C]`` floats in 0..1 -> 8-bit RGB PIL images, what the processor of a released model expects."""
    from PIL import Image

    pixels = (images[..., :3].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return [Image.fromarray(frame) for frame in pixels]


class VLMJudgeVerifier:
    """Scores images with a vision-language model: VQAScore's log P(Yes) (``question``) or the rubric's expected grade."""

    needs_condition = True

    def __init__(
        self, model: VLMJudgeModel, mode: str, aspect: str = OVERALL, question_template: str = DEFAULT_QUESTION_TEMPLATE,
        max_batch_size: int = 8,
    ) -> None:
        if mode not in MODES:
            raise VerifierConfigError(f"mode '{mode}' is not one of {', '.join(MODES)}")
        if max_batch_size < 1:
            raise VerifierConfigError(f"max_batch_size is {max_batch_size}; it must be at least 1")
        self._model = model.eval().requires_grad_(False)
        self.mode = mode
        self.max_batch_size = max_batch_size
        if mode == QUESTION:
            check_question_template(question_template)
            self.question_template = question_template
            self.answer_ids = [model.single_token(YES)]
            self.name = f"VLM judge {model.model_name} (question)"
        else:
            self.aspects = aspects_for(aspect)
            self.answer_ids = [model.single_token(str(grade)) for grade in GRADES]
            self.name = f"VLM judge {model.model_name} (rubric: {aspect})"

    @property
    def module(self) -> torch.nn.Module:
        return self._model

    def questions(self, condition: str) -> list[str]:
        if self.mode == QUESTION:
            return [question_text(self.question_template, condition)]
        return [rubric_question(aspect, condition) for aspect in self.aspects]

    def answer_log_probs(self, prompts: list[str], images: list[Any]) -> torch.Tensor:
        """log P(answer token) for each row of (prompt, image): ``[rows, answer tokens]``, float32 on the CPU."""
        answer_ids = torch.tensor(self.answer_ids)
        results, start, size = [], 0, self.max_batch_size
        while start < len(prompts):
            stop = min(start + size, len(prompts))
            try:
                logits = self._model(**self._model.batch(prompts[start:stop], images[start:stop]))
            except torch.cuda.OutOfMemoryError:
                if stop - start == 1:
                    raise
                size = max(1, (stop - start) // 2)
                torch.cuda.empty_cache()
                continue
            results.append(logits.float().log_softmax(dim=-1)[:, answer_ids.to(logits.device)].cpu())
            start = stop
        return torch.cat(results)

    @torch.inference_mode()
    def score(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        if condition is None or not condition.strip():
            raise VerifierConditionError(f"the {self.name} asks about verifier_text, and it is empty")
        pil_images = to_pil_images(images)
        prompts = [self._model.render(question) for question in self.questions(condition)]
        # Rows question-major: rows of one question share a prompt, so a pass pads little.
        rows = [(q, i) for q in range(len(prompts)) for i in range(len(pil_images))]
        log_probs = self.answer_log_probs([prompts[q] for q, _ in rows], [pil_images[i] for _, i in rows])
        log_probs = log_probs.reshape(len(prompts), len(pil_images), -1).transpose(0, 1)  # [images, questions, answers]
        if self.mode == QUESTION:
            scores = log_probs[:, 0, 0]
        else:
            grades = torch.tensor(GRADES, dtype=torch.float32)
            scores = (log_probs.softmax(dim=-1) * grades).sum(dim=-1).mean(dim=1)
        if not torch.isfinite(scores).all():
            raise VerifierConfigError(
                f"the {self.name} gave non-finite scores in {next(self._model.parameters()).dtype}; the model overflowed. "
                "Run ComfyUI with --force-fp32 (or on a GPU with bfloat16)"
            )
        return scores


def load_vlm_judge_model(folder: Path, dtype: torch.dtype, how_to_get: str) -> VLMJudgeModel:
    """A checked model folder loaded in ``dtype`` on the CPU (ComfyUI's model management moves it)."""
    check_vlm_folder(folder, how_to_get)
    model, processor = load_vlm(folder, dtype)
    return VLMJudgeModel(model, processor, folder.name)
