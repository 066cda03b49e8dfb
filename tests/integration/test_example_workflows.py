"""Every example workflow converts to API format and passes ComfyUI's own prompt validation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from headless import tiny_models
from headless.ui_workflow import WorkflowConversionError, ui_to_api

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "example_workflows").glob("*.json"))
TINY_FILES = {
    "CheckpointLoaderSimple": {"ckpt_name": tiny_models.TINY_CHECKPOINT_NAME},
    "NoiseSearchCLIPScoreVerifierLoader": {"weights": tiny_models.TINY_CLIP_FOLDER},
    "NoiseSearchSelfSupervisedVerifierLoader": {"weights": tiny_models.TINY_CLIP_FOLDER},
    "NoiseSearchZeroShotVerifierLoader": {"weights": tiny_models.TINY_CLIP_FOLDER},
    "NoiseSearchAestheticVerifierLoader": {"head": tiny_models.TINY_AESTHETIC_HEAD, "weights": tiny_models.TINY_CLIP_FOLDER},
}


def with_tiny_models(prompt: dict) -> dict:
    for node in prompt.values():
        node["inputs"].update(TINY_FILES.get(node["class_type"], {}))
    return prompt


def test_there_are_example_workflows_with_thumbnails():
    assert EXAMPLES
    for workflow in EXAMPLES:
        assert workflow.with_suffix(".jpg").is_file(), f"{workflow.name} has no .jpg thumbnail for the template browser"


@pytest.mark.parametrize("workflow", EXAMPLES, ids=lambda path: path.stem)
def test_the_example_validates_in_comfyui(comfyui, workflow):
    import execution

    prompt = with_tiny_models(ui_to_api(json.loads(workflow.read_text()), comfyui.nodes.NODE_CLASS_MAPPINGS))
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt("example", prompt, None))
    assert valid, (error, node_errors)
    assert outputs


def test_conversion_maps_widgets_past_the_seed_control_value(comfyui):
    workflow = json.loads((EXAMPLES[0].parent / "sd15_clip_score_random_search.json").read_text())
    prompt = ui_to_api(workflow, comfyui.nodes.NODE_CLASS_MAPPINGS)
    sampler = next(node for node in prompt.values() if node["class_type"] == "NoiseSearchSampler")
    ui_node = next(node for node in workflow["nodes"] if node["type"] == "NoiseSearchSampler")
    assert sampler["inputs"]["seed"] == ui_node["widgets_values"][0]
    assert sampler["inputs"]["steps"] == ui_node["widgets_values"][2]  # [1] is the control mode
    assert sampler["inputs"]["verifier_text"] == ui_node["widgets_values"][-1]
    assert sampler["inputs"]["model"][0] == "1"


def test_a_missing_node_type_is_named(comfyui):
    workflow = {"nodes": [{"id": 3, "type": "SomeOtherPackNode", "inputs": [], "widgets_values": []}], "links": []}
    with pytest.raises(WorkflowConversionError, match="SomeOtherPackNode"):
        ui_to_api(workflow, comfyui.nodes.NODE_CLASS_MAPPINGS)
