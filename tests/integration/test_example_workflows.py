"""Every example workflow converts to API format and passes ComfyUI's own prompt validation; the demo example runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from headless import tiny_models
from headless.ui_workflow import WorkflowConversionError, ui_to_api

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "example_workflows"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
DEMO_EXAMPLE = EXAMPLES_DIR / "Noise Search demo (digits on the CPU, random search, no download).json"
SD15_EXAMPLE = EXAMPLES_DIR / "Noise Search with SD1.5 (CLIP score verifier, random search).json"
TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its position
TINY_FILES = {
    "CheckpointLoaderSimple": {"ckpt_name": tiny_models.TINY_CHECKPOINT_NAME},
    "NoiseSearchCLIPScoreVerifierLoader": {"weights": tiny_models.TINY_CLIP_FOLDER},
    "NoiseSearchSelfSupervisedVerifierLoader": {"weights": tiny_models.TINY_CLIP_FOLDER},
    "NoiseSearchZeroShotVerifierLoader": {"weights": tiny_models.TINY_CLIP_FOLDER},
    "NoiseSearchAestheticVerifierLoader": {"head": tiny_models.TINY_AESTHETIC_HEAD, "weights": tiny_models.TINY_CLIP_FOLDER},
    "NoiseSearchImageRewardVerifierLoader": {"weights": tiny_models.TINY_IMAGE_REWARD_FOLDER,
                                             "tokenizer": tiny_models.TINY_BERT_TOKENIZER_FOLDER},
    "LoadImage": {"image": "noise_search_source.png"},
    "NoiseSearchSourceSimilarityVerifierLoader": {"features": tiny_models.TINY_DINOV2_FOLDER},
    "NoiseSearchTemporalConsistencyVerifierLoader": {"features": tiny_models.TINY_DINOV2_FOLDER},
    "UNETLoader": {"unet_name": tiny_models.TINY_WAN_NAME},
    "VAELoader": {"vae_name": tiny_models.TINY_WAN_VAE_NAME},
    "CLIPLoader": {"clip_name": "noise_search_validation_only_text_encoder.safetensors"},
}


@pytest.fixture(autouse=True)
def source_image(comfyui):
    """The picture the img2img and inpainting examples load: 64 px, its alpha a square to repaint (LoadImage's mask)."""
    import folder_paths
    from PIL import Image

    path = Path(folder_paths.get_input_directory()) / TINY_FILES["LoadImage"]["image"]
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGBA", (64, 64), (200, 120, 60, 255))
        image.paste((40, 90, 200, 0), (16, 8, 48, 40))  # transparent: LoadImage's mask is 1 there
        image.save(path)
    return path


@pytest.fixture(autouse=True)
def video_model_files(comfyui):
    """The Wan example's files: the tiny Wan model and VAE, and a text-encoder file the validator only looks up."""
    import folder_paths
    import safetensors.torch
    import torch

    def written(folder: str, name: str) -> Path:
        return Path(folder_paths.get_folder_paths(folder)[0]) / name

    if not written("diffusion_models", tiny_models.TINY_WAN_NAME).is_file():
        tiny_models.write_tiny_wan(written("diffusion_models", tiny_models.TINY_WAN_NAME))
    if not written("vae", tiny_models.TINY_WAN_VAE_NAME).is_file():
        tiny_models.write_tiny_wan_vae(written("vae", tiny_models.TINY_WAN_VAE_NAME))
    encoder = written("text_encoders", TINY_FILES["CLIPLoader"]["clip_name"])
    if not encoder.is_file():
        encoder.parent.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file({"unused": torch.zeros(1)}, str(encoder))


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
    workflow = json.loads(SD15_EXAMPLE.read_text())
    prompt = ui_to_api(workflow, comfyui.nodes.NODE_CLASS_MAPPINGS)
    sampler = next(node for node in prompt.values() if node["class_type"] == "NoiseSearchSampler")
    ui_node = next(node for node in workflow["nodes"] if node["type"] == "NoiseSearchSampler")
    assert sampler["inputs"]["seed"] == ui_node["widgets_values"][0]
    assert sampler["inputs"]["steps"] == ui_node["widgets_values"][2]  # [1] is the control mode
    assert sampler["inputs"]["model"][0] == "1"


def test_the_file_names_are_titles_a_search_for_noise_finds():
    """The template browser shows a custom node's example under its file name, as title and description."""
    for workflow in EXAMPLES:
        assert workflow.stem.startswith("Noise Search"), workflow.name
        assert "_" not in workflow.stem, f"{workflow.name}: the template browser would show its underscores as spaces"


@pytest.mark.parametrize("workflow", EXAMPLES, ids=lambda path: path.stem)
def test_one_prompt_feeds_the_text_encoder_and_the_verifier(comfyui, workflow):
    prompt = ui_to_api(json.loads(workflow.read_text()), comfyui.nodes.NODE_CLASS_MAPPINGS)
    encoders = [node for node in prompt.values() if node["class_type"] == "CLIPTextEncode"]
    if not encoders:
        pytest.skip("the demo is conditioned on a digit, not a text")
    sampler = next(node for node in prompt.values() if node["class_type"].startswith("NoiseSearchSampler"))
    source = sampler["inputs"]["verifier_text"]
    assert isinstance(source, list), "verifier_text should be linked to the prompt's String node, not typed twice"
    assert prompt[source[0]]["class_type"] == "PrimitiveStringMultiline"
    assert any(encoder["inputs"]["text"] == source for encoder in encoders)


def node_boxes(workflow: dict) -> dict[int, tuple[float, float, float, float]]:
    """Each node's box with its title bar: (left, top, right, bottom)."""
    return {node["id"]: (node["pos"][0], node["pos"][1] - TITLE_HEIGHT, node["pos"][0] + node["size"][0],
                         node["pos"][1] + node["size"][1]) for node in workflow["nodes"]}


@pytest.mark.parametrize("workflow", EXAMPLES, ids=lambda path: path.stem)
def test_no_nodes_overlap_and_the_saved_view_frames_them(workflow):
    graph = json.loads(workflow.read_text())
    boxes = node_boxes(graph)
    ids = sorted(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            (al, at, ar, ab), (bl, bt, br, bb) = boxes[a], boxes[b]
            assert ar <= bl or br <= al or ab <= bt or bb <= at, f"nodes {a} and {b} overlap in {workflow.name}"
    scale, (dx, dy) = graph["extra"]["ds"]["scale"], graph["extra"]["ds"]["offset"]
    screen = [((left + dx) * scale, (top + dy) * scale, (right + dx) * scale, (bottom + dy) * scale)
              for left, top, right, bottom in boxes.values()]
    # on a 1600 x 900 canvas, clear of the front end's side bar (left), menus and workflow name (top)
    assert min(box[0] for box in screen) >= 60 and max(box[2] for box in screen) <= 1600
    assert min(box[1] for box in screen) >= 140 and max(box[3] for box in screen) <= 900


def test_a_missing_node_type_is_named(comfyui):
    workflow = {"nodes": [{"id": 3, "type": "SomeOtherPackNode", "inputs": [], "widgets_values": []}], "links": []}
    with pytest.raises(WorkflowConversionError, match="SomeOtherPackNode"):
        ui_to_api(workflow, comfyui.nodes.NODE_CLASS_MAPPINGS)


def test_the_demo_example_is_the_headless_demo_graph(comfyui):
    prompt = ui_to_api(json.loads(DEMO_EXAMPLE.read_text()), comfyui.nodes.NODE_CLASS_MAPPINGS)
    assert prompt == comfyui.workflow("demo_digits_random_search")


def test_the_demo_example_runs_on_the_shipped_demo_model(comfyui):
    """End to end through ComfyUI's executor with the committed demo weights: 16 candidates × 20 steps at 16×16."""
    prompt = ui_to_api(json.loads(DEMO_EXAMPLE.read_text()), comfyui.nodes.NODE_CLASS_MAPPINGS)
    sampler = next(node_id for node_id, node in prompt.items() if node["class_type"] == "NoiseSearchSampler")
    best_latent, ranked_latents, scores, report, _curve = comfyui.run(prompt).outputs(sampler)
    assert list(best_latent["samples"].shape) == [1, 3, 16, 16]
    assert list(ranked_latents["samples"].shape) == [16, 3, 16, 16]
    ranks = [int(line.split()[0]) for line in scores.splitlines() if line.split()[0].isdigit()]
    assert ranks == list(range(1, 17))
    assert "random search: 16 candidates" in scores.splitlines()[-1]
    candidates = json.loads(report)["candidates"]
    assert len(candidates) == 16 and {c["seed"] for c in candidates} == set(range(16))
