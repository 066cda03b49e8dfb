"""Loader node for HPSv3: HPSv3.safetensors on Qwen2-VL-7B-Instruct's config and processor files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import comfy.model_management
import torch
from comfy_api.latest import io

from ..verifiers import VerifierConfigError, load_hps_v3_verifier
from ..verifiers.downloads import HPS_V3, HPS_V3_BASE
from ..verifiers.hps_v3 import CHECKPOINT_NAME, DEFAULT_HPS_V3_CHUNK, check_base_folder
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import files_and_folders_matching, list_transformers_folders
from .node_errors import reported_as
from .open_clip_inputs import download_input
from .verifier_cache import cached_verifier, weights_fingerprint
from .weights import ensure_weights, weight_options

DISPLAY_NAME = "Load HPSv3 Verifier (Noise Search)"
HOW_TO_GET = (
    f"Use {CHECKPOINT_NAME} from the Hugging Face repository MizzenAI/HPSv3 (about 16 GB), in a folder "
    f"(e.g. models/verifiers/HPSv3/{CHECKPOINT_NAME}) or as the file itself."
)
BASE_HOW_TO_GET = (
    "Use config.json, tokenizer.json, tokenizer_config.json, preprocessor_config.json and chat_template.json from the "
    "Hugging Face repository Qwen/Qwen2-VL-7B-Instruct, in a folder (e.g. models/verifiers/Qwen2-VL-7B-Instruct/); "
    "its weights are not needed."
)
BYTES_PER_RELEASED_PARAMETER = 2
"""HPSv3.safetensors holds the model in bfloat16."""


def hps_v3_checkpoint(path: Path) -> Path:
    """The checkpoint itself, for the file or a folder holding it."""
    if path.is_file():
        return path
    if (path / CHECKPOINT_NAME).is_file():
        return path / CHECKPOINT_NAME
    raise VerifierConfigError(f"{path} holds no {CHECKPOINT_NAME}. {HOW_TO_GET}")


def hps_v3_dtype(checkpoint: Path) -> torch.dtype:
    """bfloat16 where ComfyUI would run a model of this size in it, else float16 where it would, else float32."""
    device = comfy.model_management.get_torch_device()
    parameters = checkpoint.stat().st_size // BYTES_PER_RELEASED_PARAMETER
    if comfy.model_management.should_use_bf16(device, model_params=parameters):
        return torch.bfloat16
    if comfy.model_management.should_use_fp16(device, model_params=parameters):
        return torch.float16
    return torch.float32


class LoadHPSv3Verifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchHPSv3VerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores each image by HPSv3 (Human Preference Score v3), Qwen2-VL-7B-Instruct fine-tuned on "
            "people's choices between images with a reward head: the reward's mean for the image and the prompt, higher "
            "is better; needs the prompt as verifier_text. A 7B vision-language model: about 16 GB in bfloat16.",
            inputs=[
                io.Combo.Input("weights",
                               options=sorted(set(weight_options(HPS_V3)) | set(files_and_folders_matching(CHECKPOINT_NAME))),
                               tooltip=f"{CHECKPOINT_NAME} (MizzenAI/HPSv3, about 16 GB, MIT) in models/verifiers, or a "
                               "folder holding it. It holds every weight of the model."),
                io.Combo.Input("base_model", options=sorted(set(weight_options(HPS_V3_BASE)) | set(list_transformers_folders())),
                               tooltip="A folder with Qwen2-VL-7B-Instruct's config, tokenizer, processor and chat template "
                               "files (Qwen/Qwen2-VL-7B-Instruct, a few MB; Apache-2.0). Its weights are not read."),
                io.Int.Input("max_batch_size", default=DEFAULT_HPS_V3_CHUNK, min=1, max=256,
                             tooltip="The most images in one forward pass; bigger batches are scored in passes of this size."),
                download_input(),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, base_model: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights, base_model)

    @classmethod
    def execute(cls, weights: str, base_model: str, max_batch_size: int, download: bool) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            checkpoint = hps_v3_checkpoint(ensure_weights(weights, download, HOW_TO_GET))
            base_folder = ensure_weights(base_model, download, BASE_HOW_TO_GET)
            try:
                check_base_folder(base_folder)
            except VerifierConfigError as error:
                raise VerifierConfigError(f"{error}. {BASE_HOW_TO_GET}") from error
            dtype = hps_v3_dtype(checkpoint)
            return io.NodeOutput(cached_verifier(
                "hps_v3", [checkpoint, base_folder], (max_batch_size, dtype),
                lambda: load_hps_v3_verifier(base_folder, checkpoint, dtype, max_batch_size),
            ))
