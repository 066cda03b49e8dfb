"""A vision-language model folder in the Hugging Face repository layout, checked and loaded with transformers.

The folder is what ``Qwen/Qwen2.5-VL-7B-Instruct`` and its siblings hold: ``config.json``, safetensors
weights (``model.safetensors``, or shards listed in ``model.safetensors.index.json``), the tokenizer
(``tokenizer.json`` or ``vocab.json`` + ``merges.txt``, with ``tokenizer_config.json``), the image
processor's settings (``preprocessor_config.json``; transformers 5 saves them in ``processor_config.json``)
and a chat template (``chat_template.json`` or ``chat_template.jinja``, or one inside the tokenizer's or
processor's config). Everything is checked before anything loads, so a missing file is named, not met
as a stack trace. Code in the folder is never run (``trust_remote_code=False``) and pickled weights
(``.bin``, ``.pt``) are refused: only safetensors load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import VerifierConfigError


@dataclass(frozen=True)
class VLMArchitecture:
    model_type: str
    """As config.json names it."""
    name: str
    first_transformers: str
    """The first transformers release that has the architecture."""


SUPPORTED_ARCHITECTURES: dict[str, VLMArchitecture] = {
    a.model_type: a for a in (VLMArchitecture("qwen2_5_vl", "Qwen2.5-VL", "4.49.0"),
                              VLMArchitecture("qwen3_vl", "Qwen3-VL", "4.57.0"))
}
"""The architectures the judge runs, by ``model_type``; both load through ``AutoModelForImageTextToText``."""

PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
WEIGHTS_FILE, WEIGHTS_INDEX = "model.safetensors", "model.safetensors.index.json"
TEMPLATE_HOLDERS = ("tokenizer_config.json", "processor_config.json")


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise VerifierConfigError(f"{path} cannot be read as JSON ({error})") from error
    if not isinstance(config, dict):
        raise VerifierConfigError(f"{path} is not a model config (a JSON object)")
    return config


def supported_architecture(folder: Path) -> VLMArchitecture:
    """The architecture of the folder's config.json, if the judge runs it; else an error naming it."""
    config = read_config(folder)
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_ARCHITECTURES:
        classes = ", ".join(config.get("architectures") or []) or "no architectures listed"
        supported = ", ".join(f"{a.name} ('{t}')" for t, a in SUPPORTED_ARCHITECTURES.items())
        raise VerifierConfigError(
            f"{folder.name} holds a '{model_type}' model ({classes}), which the VLM judge does not run; "
            f"it runs {supported} models, e.g. Qwen/Qwen2.5-VL-7B-Instruct or Qwen/Qwen3-VL-8B-Instruct"
        )
    return SUPPORTED_ARCHITECTURES[model_type]


def check_transformers_has(architecture: VLMArchitecture, folder: Path) -> None:
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if architecture.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise VerifierConfigError(
            f"{folder.name} is a {architecture.name} model, which needs transformers {architecture.first_transformers} "
            f"or newer; this Python has transformers {transformers.__version__}. Upgrade it in ComfyUI's Python "
            f"(pip install -U \"transformers>={architecture.first_transformers}\")"
        )


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of the folder: ``model.safetensors``, or the shards its index lists."""
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, json.JSONDecodeError, KeyError, AttributeError) as error:
            raise VerifierConfigError(f"{index} is not a safetensors index ({error})") from error
        return [folder / shard for shard in shards]
    return [folder / WEIGHTS_FILE]


def has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.json").is_file() or (folder / "chat_template.jinja").is_file():
        return True
    for name in TEMPLATE_HOLDERS:
        try:
            if "chat_template" in json.loads((folder / name).read_text()):
                return True
        except (OSError, json.JSONDecodeError, TypeError):
            continue
    return False


def missing_parts(folder: Path) -> list[str]:
    """What the folder lacks, each as 'file (what it is)'; empty when it is complete."""
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json (the model's configuration)")
    pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLED_SUFFIXES)
    weights = weight_files(folder)
    absent = [p.name for p in weights if not p.is_file()]
    if absent and pickled and not (folder / WEIGHTS_INDEX).is_file():
        missing.append(f"safetensors weights: it holds only pickled weights ({', '.join(pickled[:3])}), which the "
                       "judge refuses to load because unpickling can run code; use the repository's .safetensors files")
    elif absent:
        missing.append(f"{', '.join(absent)} (the weights)")
    if not ((folder / "tokenizer.json").is_file() or ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file())):
        missing.append("tokenizer.json (the tokenizer)")
    if not (folder / "tokenizer_config.json").is_file():
        missing.append("tokenizer_config.json (the tokenizer's settings)")
    if not ((folder / "preprocessor_config.json").is_file() or (folder / "processor_config.json").is_file()):
        missing.append("preprocessor_config.json (the image processor's settings)")
    if not has_chat_template(folder):
        missing.append("chat_template.json (the chat template)")
    return missing


def check_vlm_folder(folder: Path, how_to_get: str) -> VLMArchitecture:
    """The folder's architecture if the judge runs it, the folder is complete and transformers has the architecture;
    else one error naming what is wrong (in that order: another architecture is named before its missing files)."""
    if not folder.is_dir():
        raise VerifierConfigError(f"{folder} is not a folder; the VLM judge reads a model folder. {how_to_get}")
    architecture = supported_architecture(folder) if (folder / "config.json").is_file() else None
    missing = missing_parts(folder)
    if missing or architecture is None:
        raise VerifierConfigError(f"the model folder {folder} lacks {'; '.join(missing)}. {how_to_get}")
    check_transformers_has(architecture, folder)
    return architecture


def dtype_argument() -> str:
    """``from_pretrained``'s dtype keyword: ``dtype`` from transformers 4.56, ``torch_dtype`` before."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56.0") else "torch_dtype"


def load_vlm(folder: Path, dtype: torch.dtype) -> tuple[torch.nn.Module, Any]:
    """The model (on the CPU, in ``dtype``, in eval mode) and its processor, from a checked folder."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(
        str(folder), local_files_only=True, trust_remote_code=False, use_safetensors=True, **{dtype_argument(): dtype}
    )
    processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    if getattr(processor, "chat_template", None) is None:
        raise VerifierConfigError(f"the processor of {folder.name} has no chat template (chat_template.json)")
    return model.eval().requires_grad_(False), processor
