"""Bad inputs meet ComfyUI's own checks or one error naming the node, the input and the fix."""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

from headless import tiny_models
from headless.workflow_runner import WorkflowFailed, WorkflowInvalid

LOADER, ALGORITHM, SAMPLER = "5", "6", "7"
CLIP_LOADER = "Load CLIP Score Verifier (Noise Search)"
PATHS = {"class_type": "NoiseSearchPathsSearch", "inputs": {
    "num_paths": 2, "branches": 2, "start_step": 3, "forward_steps": 1, "backward_steps": 2, "batch_size": 2,
    "max_nfes": 0}}
PRUNED = {"class_type": "NoiseSearchPrunedRandomSearch", "inputs": {
    "num_candidates": 2, "checkpoints": "0.5", "keep_fraction": 0.5, "batch_size": 2, "search_steps": 0, "max_nfes": 0}}


def pack_module(name: str) -> ModuleType:
    """One of this pack's modules as ComfyUI loaded it (under a name made from the pack's folder)."""
    return next(module for key, module in sys.modules.items() if key.endswith(f".{name}"))


@pytest.fixture
def verifiers_folder(comfyui) -> Iterator[Path]:
    """models/verifiers; whatever a test adds there is removed after it."""
    import folder_paths

    folder = Path(folder_paths.get_folder_paths("verifiers")[0])
    before = set(folder.iterdir())
    yield folder
    for added in set(folder.iterdir()) - before:
        added.unlink() if added.is_symlink() or added.is_file() else shutil.rmtree(added)


def validation_errors(comfyui, prompt: dict[str, Any], node_id: str) -> list[dict[str, Any]]:
    with pytest.raises(WorkflowInvalid) as invalid:
        comfyui.run(prompt)
    return invalid.value.node_errors[node_id]["errors"]


def loader_only(loader: dict[str, Any]) -> dict[str, Any]:
    """A loader whose verifier scores one blank image: the quickest workflow that runs a loader."""
    return {
        LOADER: loader,
        "40": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0}},
        "41": {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["40", 0], "verifier": [LOADER, 0], "text": "x"}},
        "42": {"class_type": "PreviewImage", "inputs": {"images": ["41", 0]}},
    }


def weights_options(comfyui) -> list[str]:
    """What the CLIP score loader offers as weights, read from its schema as ComfyUI's validator reads it."""
    kind, options = comfyui.nodes.NODE_CLASS_MAPPINGS["NoiseSearchCLIPScoreVerifierLoader"].INPUT_TYPES()["required"]["weights"]
    return kind if isinstance(kind, list) else options["options"]


def clip_loader(weights: str, architecture: str = "auto") -> dict[str, Any]:
    return {"class_type": "NoiseSearchCLIPScoreVerifierLoader",
            "inputs": {"weights": weights, "architecture": architecture, "download": False}}


# ComfyUI's own range and list checks


def test_a_probe_level_outside_its_range_is_refused_by_comfyuis_validator(comfyui):
    prompt = comfyui.workflow()
    prompt[LOADER] = {"class_type": "NoiseSearchSelfSupervisedVerifierLoader", "inputs": {
        "weights": tiny_models.TINY_CLIP_FOLDER, "architecture": "auto", "download": False, "probe_level": 7.5}}
    errors = validation_errors(comfyui, prompt, LOADER)
    assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [("value_bigger_than_max", "probe_level")]


@pytest.fixture(scope="module")
def comfyui_checks_v3_combos(comfyui) -> bool:
    """Whether this ComfyUI's validator checks the values of V3 combos (0.3.75's checks only V1 option lists)."""
    import execution
    from comfy_api.latest import io

    class ComboProbe(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> io.Schema:
            return io.Schema(node_id="ValidationTestComboProbe", inputs=[io.Combo.Input("choice", options=["a"])],
                             is_output_node=True)

        @classmethod
        def execute(cls, choice: str) -> io.NodeOutput:
            return io.NodeOutput()

    ComboProbe.GET_SCHEMA()
    comfyui.nodes.NODE_CLASS_MAPPINGS["ValidationTestComboProbe"] = ComboProbe
    try:
        prompt = {"1": {"class_type": "ValidationTestComboProbe", "inputs": {"choice": "b"}}}
        return not asyncio.run(execution.validate_prompt("probe", prompt, None))[0]
    finally:
        del comfyui.nodes.NODE_CLASS_MAPPINGS["ValidationTestComboProbe"]


@pytest.fixture
def single_checkpoint_file(verifiers_folder) -> str:
    """The tiny CLIP's weights alone, as a single checkpoint file (open_clip reads it with the architecture input)."""
    shutil.copy(verifiers_folder / tiny_models.TINY_CLIP_FOLDER / "open_clip_model.safetensors",
                verifiers_folder / "tiny-ViT-B-32.safetensors")
    return "tiny-ViT-B-32.safetensors"


def test_an_architecture_not_offered_is_refused_once(comfyui, comfyui_checks_v3_combos, single_checkpoint_file):
    prompt = loader_only(clip_loader(single_checkpoint_file, "ViT-Nonsense-99"))
    if comfyui_checks_v3_combos:
        errors = validation_errors(comfyui, prompt, LOADER)
        assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [("value_not_in_list", "architecture")]
    else:
        with pytest.raises(WorkflowFailed) as failed:
            comfyui.run(prompt)
        message = failed.value.data["exception_message"].strip()
        assert message == f"{CLIP_LOADER}: 'ViT-Nonsense-99' is not an open_clip architecture"


def test_weights_not_offered_are_refused_once(comfyui, comfyui_checks_v3_combos, verifiers_folder):
    prompt = loader_only(clip_loader("nothing-like-this.safetensors"))
    if comfyui_checks_v3_combos:
        errors = validation_errors(comfyui, prompt, LOADER)
        assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [("value_not_in_list", "weights")]
    else:
        with pytest.raises(WorkflowFailed) as failed:
            comfyui.run(prompt)
        message = failed.value.data["exception_message"].strip()
        assert message.startswith(f"{CLIP_LOADER}: verifier weights 'nothing-like-this.safetensors' not found. "
                                  f"Put the file (or folder) at {verifiers_folder / 'nothing-like-this.safetensors'}")


@pytest.mark.parametrize("input_name", ["sampler_name", "scheduler"])
def test_a_sampler_or_scheduler_not_offered_is_refused_once(comfyui, comfyui_checks_v3_combos, input_name):
    prompt = comfyui.workflow()
    prompt[SAMPLER]["inputs"][input_name] = "nonsense"
    if comfyui_checks_v3_combos:
        errors = validation_errors(comfyui, prompt, SAMPLER)
        assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [("value_not_in_list", input_name)]
    else:
        with pytest.raises(WorkflowFailed) as failed:
            comfyui.run(prompt)
        assert failed.value.data["exception_message"].startswith(f"Noise Search Sampler: {input_name} 'nonsense' is not one of")


def test_no_node_of_the_pack_takes_over_comfyuis_checks_of_a_ranged_or_listed_input(comfyui):
    """ComfyUI skips its min/max and list checks for every input a node's validate_inputs names."""
    for node_id, node_class in comfyui.nodes.NODE_CLASS_MAPPINGS.items():
        if not node_id.startswith("NoiseSearch") or "validate_inputs" not in vars(node_class):
            continue
        inputs = {**node_class.INPUT_TYPES().get("required", {}), **node_class.INPUT_TYPES().get("optional", {})}
        for name in inspect.getfullargspec(node_class.validate_inputs).args[1:]:
            kind, options = inputs[name][0], inputs[name][1] if len(inputs[name]) > 1 else {}
            assert not isinstance(kind, list) and "min" not in options and "max" not in options, (node_id, name)


# Missing and unreadable weights: one error, named


def test_a_missing_known_weights_file_is_one_error_naming_the_node_the_file_where_to_put_it_and_where_to_get_it(
    comfyui, verifiers_folder
):
    import execution

    name = "CLIP-ViT-B-32-laion2B-s34B-b79K"
    prompt = comfyui.workflow()
    prompt[LOADER]["inputs"]["weights"] = name
    valid, _, _, node_errors = asyncio.run(execution.validate_prompt("missing", prompt, None))
    assert valid and node_errors == {}
    with pytest.raises(WorkflowFailed) as failed:
        comfyui.run(prompt)
    assert failed.value.data["node_id"] == LOADER
    message = failed.value.data["exception_message"].strip()
    assert message.startswith(f"{CLIP_LOADER}: verifier weights '{name}' not found")
    assert str(verifiers_folder / name) in message and "open_clip" in message and "turn on download" in message


def test_missing_weights_of_a_two_file_loader_are_one_error_naming_the_missing_file(comfyui):
    prompt = comfyui.workflow()
    prompt[LOADER] = {"class_type": "NoiseSearchDINOv2VerifierLoader", "inputs": {
        "backbone": tiny_models.TINY_DINOV2_FOLDER, "head": "dinov2_vitb14_linear_head.pth", "class_names": "",
        "download": False}}
    with pytest.raises(WorkflowFailed) as failed:
        comfyui.run(prompt)
    message = failed.value.data["exception_message"].strip()
    assert message.startswith("Load DINOv2 Class-Logit Verifier (Noise Search): verifier weights "
                              "'dinov2_vitb14_linear_head.pth' not found")
    assert "facebookresearch/dinov2" in message and "The pack does not download it: no published checksum" in message


def test_weights_that_cannot_be_read_name_the_loader_the_file_and_the_fix(comfyui, verifiers_folder, single_checkpoint_file):
    (verifiers_folder / "junk.safetensors").write_bytes(b"not weights" * 100)
    (verifiers_folder / "broken-config").mkdir()
    (verifiers_folder / "broken-config" / "open_clip_config.json").write_text("{")
    # The truncated config reads as a ValueError or its subclass JSONDecodeError, depending on the open_clip version.
    for weights, architecture, reasons in (("junk.safetensors", "ViT-B-32", ("SafetensorError",)),
                                           (single_checkpoint_file, "auto", ("AssertionError",)),
                                           ("broken-config", "auto", ("ValueError", "JSONDecodeError"))):
        with pytest.raises(WorkflowFailed) as failed:
            comfyui.run(loader_only(clip_loader(weights, architecture)))
        message = failed.value.data["exception_message"].strip()
        assert message.startswith(tuple(f"{CLIP_LOADER}: '{weights}' could not be loaded ({reason}" for reason in reasons)), message
        assert message.endswith("that the architecture input matches it."), message


# The search nodes' inputs


def masked(prompt: dict[str, Any], value: float = 1.0, width: int = 64, height: int = 64, batch: int = 1) -> dict[str, Any]:
    """The search's latent under a mask: SolidMask, or a batch of masks from a batch of empty images."""
    if batch == 1:
        prompt["20"] = {"class_type": "SolidMask", "inputs": {"value": value, "width": width, "height": height}}
    else:
        prompt["19"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": batch,
                                                               "color": 0xFFFFFF}}
        prompt["20"] = {"class_type": "ImageToMask", "inputs": {"image": ["19", 0], "channel": "red"}}
    prompt["21"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["4", 0], "mask": ["20", 0]}}
    prompt[SAMPLER]["inputs"]["latent_image"] = ["21", 0]
    return prompt


def advanced(prompt: dict[str, Any], denoise: float) -> dict[str, Any]:
    prompt["10"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 1}}
    prompt["11"] = {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                          "cfg": 5.0}}
    prompt["12"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}
    prompt["13"] = {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": 4,
                                                               "denoise": denoise}}
    prompt[SAMPLER] = {"class_type": "NoiseSearchSamplerAdvanced", "inputs": {
        "noise": ["10", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0],
        "vae": ["1", 2], "verifier": [LOADER, 0], "algorithm": [ALGORITHM, 0], "verifier_text": "x"}}
    return prompt


@pytest.mark.parametrize("change, message", [
    (lambda p: p[SAMPLER]["inputs"].update(denoise=0.0), "Noise Search Sampler: denoise is 0, so the sampler would run no steps"),
    (lambda p: advanced(p, denoise=0.0), "Noise Search Sampler (Advanced): sigmas must hold at least 2 values (one step) "
     "but holds 0. A scheduler with denoise 0 gives none"),
    (lambda p: masked(p, width=32).update({ALGORITHM: PATHS}), "Noise Search Sampler: latent_image's noise_mask is "
     "64×32 (height × width) but latent_image is 8×8: the mask would be stretched to another shape and cover another "
     "region. Make the mask from the image you encoded"),
    (lambda p: masked(p, batch=2), "Noise Search Sampler: latent_image's noise_mask holds 2 masks (shape (2, 1, 64, 64)) for "
     "one latent; the search samples every candidate under the same mask. Give one mask (batch 1)."),
    (lambda p: masked(p, value=0.0).update({ALGORITHM: PRUNED}), "Noise Search Sampler: latent_image's noise_mask is all "
     "zeros: it keeps the whole image, so every candidate would be latent_image itself."),
    (lambda p: masked(advanced(p, denoise=1.0), height=32), "Noise Search Sampler (Advanced): latent_image's noise_mask "
     "is 32×64 (height × width) but latent_image is 8×8"),
])
def test_search_inputs_that_cannot_work_fail_naming_the_node_the_input_and_the_fix(comfyui, change, message):
    prompt = comfyui.workflow()
    change(prompt)
    with pytest.raises(WorkflowFailed) as failed:
        comfyui.run(prompt)
    assert failed.value.data["exception_message"].startswith(message)
    assert "search_steps" not in failed.value.data["exception_message"]


# The verifier cache and the verifiers folder


def clip_folder_with_the_config_newest(folder: Path) -> Path:
    """A tiny CLIP folder whose config is its newest file (the weights are dated an hour earlier); its weights file."""
    tiny_models.write_tiny_open_clip(folder, seed=0)
    weights, hour = folder / "open_clip_model.safetensors", 3600 * 10**9
    config_time = (folder / "open_clip_config.json").stat().st_mtime_ns
    os.utime(weights, ns=(config_time - hour, config_time - hour))
    return weights


def replace_in_place_dated_earlier(weights: Path, other_folder: Path) -> None:
    """Overwrite the weights with other weights of the same size (same inode) and date them earlier still."""
    replacement = (tiny_models.write_tiny_open_clip(other_folder, seed=1) / weights.name).read_bytes()
    before = weights.stat()
    assert len(replacement) == before.st_size
    with open(weights, "r+b") as file:
        file.write(replacement)
    os.utime(weights, ns=(before.st_mtime_ns - 3600 * 10**9,) * 2)


def different_weights(first: Any, second: Any) -> bool:
    first_weights, second_weights = (next(v.verifier.module.parameters()).cpu() for v in (first, second))
    return not first_weights.equal(second_weights)


def test_weights_replaced_in_place_by_an_older_dated_file_give_a_fresh_verifier(comfyui, verifiers_folder, tmp_path):
    weights = clip_folder_with_the_config_newest(verifiers_folder / "replaced_clip")
    first = comfyui.run(loader_only(clip_loader("replaced_clip"))).outputs(LOADER)[0]
    replace_in_place_dated_earlier(weights, tmp_path / "other")
    second = comfyui.run(loader_only(clip_loader("replaced_clip"))).outputs(LOADER)[0]
    assert second is not first and different_weights(first, second)
    assert comfyui.run(loader_only(clip_loader("replaced_clip"))).outputs(LOADER)[0] is second


def test_a_weights_file_replaced_while_comfyui_runs_is_loaded_on_the_next_prompt(comfyui, verifiers_folder, tmp_path):
    from headless.workflow_runner import new_executor

    executor = new_executor()
    weights = clip_folder_with_the_config_newest(verifiers_folder / "replaced_while_running")
    def queued() -> Any:  # a new prompt each time, as the server makes for every queued one
        return comfyui.run(loader_only(clip_loader("replaced_while_running")), executor).outputs(LOADER)[0]

    first = queued()
    assert queued() is first  # ComfyUI reuses the loader's output while nothing changes
    replace_in_place_dated_earlier(weights, tmp_path / "other")
    second = queued()
    assert second is not first and different_weights(first, second)


def test_a_symlinked_weights_folder_is_listed_and_loads(comfyui, verifiers_folder, tmp_path):
    tiny_models.write_tiny_open_clip(tmp_path / "elsewhere")
    (verifiers_folder / "linked_clip").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert "linked_clip" in weights_options(comfyui)
    verifier = comfyui.run(loader_only(clip_loader("linked_clip"))).outputs(LOADER)[0]
    assert verifier.name == "CLIP score"


def test_a_symlinked_weights_file_is_found_and_a_path_leaving_the_folder_is_refused(comfyui, verifiers_folder, tmp_path):
    models_folder = pack_module("nodes.models_folder")
    verifiers = pack_module("verifiers")
    (tmp_path / "ViT-B-32-somewhere.safetensors").write_bytes(b"weights")
    (verifiers_folder / "ViT-B-32-linked.safetensors").symlink_to(tmp_path / "ViT-B-32-somewhere.safetensors")
    assert "ViT-B-32-linked.safetensors" in models_folder.list_verifier_weights()
    found = models_folder.resolve_verifier_weights("ViT-B-32-linked.safetensors", "")
    assert found.read_bytes() == b"weights"

    for outside in ("../checkpoints/" + tiny_models.TINY_CHECKPOINT_NAME, f"{tiny_models.TINY_CLIP_FOLDER}/../../checkpoints",
                    str(tmp_path / "ViT-B-32-somewhere.safetensors"), ""):
        with pytest.raises(verifiers.VerifierConfigError, match="is not a name inside the verifiers folder"):
            models_folder.resolve_verifier_weights(outside, "")


def every_loader_schema(comfyui) -> None:
    """Read every loader's inputs as the server's /object_info does on each request."""
    for node_id, node in comfyui.nodes.NODE_CLASS_MAPPINGS.items():
        if node_id.startswith("NoiseSearch") and node_id.endswith("Loader"):
            node.INPUT_TYPES()


def test_the_verifiers_listing_walks_the_folder_again_only_when_it_changes(comfyui, verifiers_folder, monkeypatch):
    every_loader_schema(comfyui)
    scans: list[Any] = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda *args, **kwargs: scans.append(args) or scandir(*args, **kwargs))
    every_loader_schema(comfyui)
    assert scans == []

    (verifiers_folder / "new_folder").mkdir()
    (verifiers_folder / "new_folder" / "ViT-B-32-new.safetensors").write_bytes(b"")
    assert "new_folder/ViT-B-32-new.safetensors" in weights_options(comfyui) and scans
