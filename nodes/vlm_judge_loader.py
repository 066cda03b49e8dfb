"""Loader node for the VLM judge: a local Qwen2.5-VL / Qwen3-VL folder scoring images by VQAScore or a rubric."""

from __future__ import annotations

import weakref
from typing import Any
from pathlib import Path

import comfy.model_management
import torch
from comfy_api.latest import io

from ..verifiers.downloads import KNOWN_SOURCES, VLM_JUDGE
from ..verifiers.vlm_folder import check_vlm_folder, weight_files
from ..verifiers.vlm_judge import VLMJudgeModel, VLMJudgeVerifier, load_vlm_judge_model
from ..verifiers.vlm_prompts import (
    ASPECT_CHOICES,
    DEFAULT_QUESTION_TEMPLATE,
    MODES,
    OVERALL,
    QUESTION,
    TEXT_PLACEHOLDER,
    check_question_template,
)
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import list_transformers_folders
from .node_errors import reported_as
from .open_clip_inputs import download_input
from .verifier_cache import cached_verifier, content_key, weights_fingerprint
from .weights import ensure_weights

DISPLAY_NAME = "Load VLM Judge Verifier (Noise Search)"
HOW_TO_GET = (
    "Download a whole Qwen2.5-VL or Qwen3-VL Instruct repository from Hugging Face (config.json, the .safetensors "
    "weights and model.safetensors.index.json, tokenizer.json, tokenizer_config.json, preprocessor_config.json, "
    "chat_template.json), e.g. Qwen/Qwen3-VL-8B-Instruct into models/verifiers/Qwen3-VL-8B-Instruct/."
)
KNOWN_MODELS = (
    "Qwen3-VL-2B-Instruct: 4.3 GB, Apache-2.0. Qwen3-VL-4B-Instruct: 8.9 GB, Apache-2.0. "
    "Qwen3-VL-8B-Instruct: 17.5 GB, Apache-2.0. Qwen2.5-VL-3B-Instruct: 7.5 GB, Qwen Research License "
    "(non-commercial use only). Qwen2.5-VL-7B-Instruct: 16.6 GB, Apache-2.0."
)
BYTES_PER_RELEASED_PARAMETER = 2
"""The released weights are bfloat16."""

_models: weakref.WeakValueDictionary[tuple, VLMJudgeModel] = weakref.WeakValueDictionary()
"""Loaded models by folder and dtype, while a judge uses them: judges of one folder with other modes or
aspects share the weights (ComfyUI manages their patchers as clones of one model)."""


def judge_dtype(folder: Path) -> torch.dtype:
    """bfloat16 where ComfyUI would run a model of this size in it, else float16 where it would, else float32."""
    device = comfy.model_management.get_torch_device()
    parameters = sum(p.stat().st_size for p in weight_files(folder) if p.is_file()) // BYTES_PER_RELEASED_PARAMETER
    if comfy.model_management.should_use_bf16(device, model_params=parameters):
        return torch.bfloat16
    if comfy.model_management.should_use_fp16(device, model_params=parameters):
        return torch.float16
    return torch.float32


def shared_model(folder: Path, dtype: torch.dtype) -> VLMJudgeModel:
    key = (content_key(folder), dtype)
    model = _models.get(key)
    if model is None:
        model = load_vlm_judge_model(folder, dtype, HOW_TO_GET)
        _models[key] = model
    return model


class LoadVLMJudgeVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchVLMJudgeVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores each image with a local vision-language model (Qwen2.5-VL or Qwen3-VL), read from "
            "one forward pass with no text generated: 'question' gives VQAScore, the log-probability that the model "
            "answers Yes to the question about verifier_text; 'rubric' gives the paper's grader, the expected 0-9 "
            "grade of an aspect (or the mean of all five). Needs verifier_text.",
            inputs=[
                io.Combo.Input(
                    "weights", options=sorted(set(list_transformers_folders())
                                              | {name for name, source in KNOWN_SOURCES.items() if source.kind == VLM_JUDGE}),
                    tooltip="A Qwen2.5-VL or Qwen3-VL Instruct model folder in models/verifiers, in the layout of its "
                    f"Hugging Face repository. Known downloads: {KNOWN_MODELS} It runs in bfloat16 where the GPU has it "
                    "(memory: about the download's size, plus activations).",
                ),
                io.Combo.Input(
                    "mode", options=list(MODES), default=QUESTION,
                    tooltip="question: VQAScore, log P(Yes) to question_template (one forward pass per image). "
                    "rubric: the expected grade (0-9) of the chosen aspect (one pass per image, five for overall).",
                ),
                io.Combo.Input("aspect", options=list(ASPECT_CHOICES), default=OVERALL,
                               tooltip="rubric mode: the aspect to grade, or overall (the mean of the five)."),
                io.String.Input("question_template", default=DEFAULT_QUESTION_TEMPLATE,
                                tooltip=f"question mode: the question asked of each image; {TEXT_PLACEHOLDER} is replaced "
                                "by the sampler's verifier_text. Phrase it so that Yes is the good answer."),
                io.Int.Input("max_batch_size", default=8, min=1, max=256,
                             tooltip="The most (image, question) pairs in one forward pass. Bigger batches are scored "
                             "in passes of this size; a pass that runs out of GPU memory is retried in halves."),
                download_input(),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights)

    @classmethod
    def execute(cls, weights: str, mode: str, aspect: str, question_template: str, max_batch_size: int,
                download: bool) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            if mode == QUESTION:
                check_question_template(question_template)  # before a model of gigabytes loads
            folder = ensure_weights(weights, download, HOW_TO_GET)
            check_vlm_folder(folder, HOW_TO_GET)
            dtype = judge_dtype(folder)
            settings = (mode, aspect if mode != QUESTION else None, question_template if mode == QUESTION else None,
                        max_batch_size, dtype)
            return io.NodeOutput(cached_verifier(
                "vlm_judge", [folder], settings,
                lambda: VLMJudgeVerifier(shared_model(folder, dtype), mode, aspect, question_template, max_batch_size),
            ))
