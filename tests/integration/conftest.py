"""One real ComfyUI per test session: imported on the CPU, tiny models written, this pack loaded.

``NOISE_SEARCH_TEST_DEVICE=gpu`` lets ComfyUI pick its GPU instead (for checks on a machine that has one).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

from headless import comfy_env, tiny_models, workflow_runner

WORKFLOWS = Path(__file__).resolve().parents[2] / "headless" / "workflows"


@dataclass
class ComfyUI:
    nodes: ModuleType
    base_directory: Path

    def workflow(self, name: str = "random_search_clip_score") -> dict[str, Any]:
        return copy.deepcopy(json.loads((WORKFLOWS / f"{name}.json").read_text()))

    def run(self, prompt: dict[str, Any], executor: Any = None) -> workflow_runner.WorkflowRun:
        return workflow_runner.run_workflow(prompt, executor)


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory) -> ComfyUI:
    base = tmp_path_factory.mktemp("comfyui-base")
    nodes = comfy_env.import_comfyui(base, cpu=os.environ.get("NOISE_SEARCH_TEST_DEVICE", "cpu") == "cpu")
    import folder_paths

    models = Path(folder_paths.models_dir)
    tiny_models.write_tiny_sd15_checkpoint(models / "checkpoints" / tiny_models.TINY_CHECKPOINT_NAME)
    tiny_models.write_tiny_open_clip(models / "verifiers" / tiny_models.TINY_CLIP_FOLDER)
    tiny_models.write_tiny_aesthetic_head(models / "verifiers" / tiny_models.TINY_AESTHETIC_HEAD)
    tiny_models.write_tiny_dinov2(models / "verifiers" / tiny_models.TINY_DINOV2_FOLDER,
                                  models / "verifiers" / tiny_models.TINY_DINOV2_HEAD)
    tiny_models.write_tiny_image_reward(models / "verifiers" / tiny_models.TINY_IMAGE_REWARD_FOLDER,
                                        models / "verifiers" / tiny_models.TINY_BERT_TOKENIZER_FOLDER)
    comfy_env.load_pack(nodes)
    return ComfyUI(nodes, base)


@pytest.fixture
def search_workflow(comfyui) -> Callable[..., dict[str, Any]]:
    """The README's workflow with the search node's and algorithm node's inputs overridden."""

    def make(num_candidates: int = 6, batch_size: int = 3, **sampler_inputs: Any) -> dict[str, Any]:
        prompt = comfyui.workflow()
        prompt["6"]["inputs"].update(num_candidates=num_candidates, batch_size=batch_size)
        prompt["7"]["inputs"].update(sampler_inputs)
        return prompt

    return make
