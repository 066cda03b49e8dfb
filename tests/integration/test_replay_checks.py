"""A replay re-makes the winner or refuses, naming the field: each input it depends on, checked in real graphs.

Each search runs once; the replays get its report as pasted text, with one input changed per test.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch

from headless.workflow_runner import WorkflowFailed

SAMPLER, REPLAY = "7", "30"
REPLAY_NAME, ADVANCED_NAME = "Replay Noise Search", "Replay Noise Search (Advanced)"
KSAMPLER_SETTINGS = ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
                     "latent_image", "denoise")
SMALL_RANDOM_SEARCH = {"class_type": "NoiseSearchRandomSearch",
                       "inputs": {"num_candidates": 2, "batch_size": 1, "search_steps": 0, "max_nfes": 0}}


def shared_nodes(comfyui) -> dict[str, Any]:
    """The checkpoint, both prompts and the 64×64 empty latent of the README's workflow."""
    return {key: node for key, node in comfyui.workflow().items() if key in ("1", "2", "3", "4")}


def with_output(prompt: dict[str, Any]) -> dict[str, Any]:
    prompt["31"] = {"class_type": "VAEDecode", "inputs": {"samples": [REPLAY, 0], "vae": ["1", 2]}}
    prompt["32"] = {"class_type": "PreviewImage", "inputs": {"images": ["31", 0]}}
    return prompt


def advanced_nodes(comfyui) -> dict[str, Any]:
    """A custom-sampling graph on the tiny EPS checkpoint: CFGGuider (cfg 4), euler, 5 simple steps."""
    return {
        **shared_nodes(comfyui),
        "11": {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                     "cfg": 4.0}},
        "12": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "13": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "simple", "steps": 5,
                                                          "denoise": 1.0}},
    }


@pytest.fixture(scope="module")
def ksampler_search(comfyui) -> tuple[str, torch.Tensor]:
    """The report and winner of a small random search with the Noise Search Sampler (6 steps, cfg 5, euler)."""
    prompt = comfyui.workflow()
    prompt["6"] = SMALL_RANDOM_SEARCH
    outputs = comfyui.run(prompt).outputs(SAMPLER)
    return outputs[3], outputs[0]["samples"]


@pytest.fixture(scope="module")
def advanced_search(comfyui) -> tuple[str, torch.Tensor]:
    prompt = {**comfyui.workflow(), **advanced_nodes(comfyui), "6": SMALL_RANDOM_SEARCH}
    prompt["14"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 77}}
    prompt[SAMPLER] = {"class_type": "NoiseSearchSamplerAdvanced", "inputs": {
        "noise": ["14", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0],
        "vae": ["1", 2], "verifier": ["5", 0], "algorithm": ["6", 0], "verifier_text": "a red apple"}}
    outputs = comfyui.run(prompt).outputs(SAMPLER)
    return outputs[3], outputs[0]["samples"]


def ksampler_replay(comfyui, report: str, **settings: Any) -> dict[str, Any]:
    """The Replay node with the search's settings (overridden by ``settings``) and the report pasted in."""
    searched = comfyui.workflow()[SAMPLER]["inputs"]
    inputs = {**{key: searched[key] for key in KSAMPLER_SETTINGS}, **settings, "report": report}
    return with_output({**shared_nodes(comfyui), REPLAY: {"class_type": "NoiseSearchReplay", "inputs": inputs}})


def advanced_replay(comfyui, report: str) -> dict[str, Any]:
    prompt = advanced_nodes(comfyui)
    prompt[REPLAY] = {"class_type": "NoiseSearchReplayAdvanced", "inputs": {
        "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0], "report": report}}
    return with_output(prompt)


def refusal(comfyui, prompt: dict[str, Any]) -> str:
    with pytest.raises(WorkflowFailed) as error:
        comfyui.run(prompt)
    assert error.value.data["node_id"] == REPLAY
    return str(error.value)


def edited(report: str, edit) -> str:
    parsed = json.loads(report)
    edit(parsed)
    return json.dumps(parsed)


def test_a_pasted_report_replays_the_winner_bit_for_bit(comfyui, ksampler_search):
    report, winner = ksampler_search
    assert torch.equal(comfyui.run(ksampler_replay(comfyui, report)).outputs(REPLAY)[0]["samples"], winner)


def test_a_report_of_either_search_node_replays_on_the_other_replay_node(comfyui, ksampler_search):
    """KSampler's settings as CFGGuider + KSamplerSelect + BasicScheduler: the same record, the same winner."""
    report, winner = ksampler_search
    prompt = advanced_replay(comfyui, report)
    prompt["11"]["inputs"]["cfg"] = 5.0
    prompt["13"]["inputs"].update(scheduler="normal", steps=6)
    assert torch.equal(comfyui.run(prompt).outputs(REPLAY)[0]["samples"], winner)


@pytest.mark.parametrize("setting, value, message", [
    ("steps", 9, "steps: the report has 6, this node has 9."),
    ("cfg", 7.0, "cfg: the report has 5.0, this node has 7.0."),
    ("sampler_name", "heun", 'sampler_name: the report has "euler", this node has "heun".'),
    ("scheduler", "karras", 'scheduler: the report has "normal", this node has "karras".'),
    ("denoise", 0.9, "denoise: the report has 1.0, this node has 0.9."),
])
def test_a_different_setting_is_refused_naming_it(comfyui, ksampler_search, setting, value, message):
    error = refusal(comfyui, ksampler_replay(comfyui, ksampler_search[0], **{setting: value}))
    assert f"{REPLAY_NAME}: {message} Set {setting} as the search had it, or connect the report of the search " \
           "this graph runs." in error


def test_a_larger_latent_is_refused_naming_its_shape(comfyui, ksampler_search):
    prompt = ksampler_replay(comfyui, ksampler_search[0], latent_image=["40", 0])
    prompt["40"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 128, "height": 128, "batch_size": 1}}
    error = refusal(comfyui, prompt)
    assert f"{REPLAY_NAME}: latent_image shape: the report has [1, 4, 8, 8], this node has [1, 4, 16, 16]." in error


def test_another_latent_image_of_the_same_size_is_refused_naming_its_content(comfyui, ksampler_search):
    """Even at denoise 1 the latent is added to the first noise: another image gives another winner."""
    prompt = ksampler_replay(comfyui, ksampler_search[0], latent_image=["41", 0])
    prompt["40"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0xC03020}}
    prompt["41"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["40", 0], "vae": ["1", 2]}}
    error = refusal(comfyui, prompt)
    assert f"{REPLAY_NAME}: latent_image content: the report has a [1, 4, 8, 8] tensor summing to 0 (absolute values 0), " \
           "this node has a [1, 4, 8, 8] tensor summing to " in error


def test_another_prompt_is_refused_naming_the_conditioning(comfyui, ksampler_search):
    prompt = ksampler_replay(comfyui, ksampler_search[0])
    prompt["2"]["inputs"]["text"] = "a green pear on a wooden table"
    error = refusal(comfyui, prompt)
    assert f"{REPLAY_NAME}: conditioning positive[0] cross_attn: the report has a [1, 77, " in error
    assert "Connect the prompts (conditioning) the search used, or connect the report of the search this graph runs." in error


@pytest.mark.parametrize("patch, message", [
    ({"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["1", 0], "sampling": "v_prediction", "zsnr": False}},
     'model sampling: the report has "ModelSamplingDiscrete+EPS", this node has "ModelSamplingDiscrete+V_PREDICTION".'),
    ({"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 3.0}},
     'model sampling: the report has "ModelSamplingDiscrete+EPS", this node has "ModelSamplingDiscreteFlow+CONST".'),
    ({"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["1", 0], "sampling": "eps", "zsnr": True}},
     "model sampling zsnr: the report has false, this node has true."),
])
def test_a_model_with_other_sampling_is_refused_naming_it(comfyui, ksampler_search, patch, message):
    prompt = ksampler_replay(comfyui, ksampler_search[0], model=["10", 0])
    prompt["10"] = patch
    assert f"{REPLAY_NAME}: {message}" in refusal(comfyui, prompt)


def test_a_matching_model_sampling_patch_is_the_same_sampling(comfyui, ksampler_search):
    """ModelSamplingDiscrete set to what the checkpoint already is (eps) composes the same record."""
    report, winner = ksampler_search
    prompt = ksampler_replay(comfyui, report, model=["10", 0])
    prompt["10"] = {"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["1", 0], "sampling": "eps", "zsnr": False}}
    assert torch.equal(comfyui.run(prompt).outputs(REPLAY)[0]["samples"], winner)


def test_the_advanced_replay_refuses_other_sigmas_naming_where_they_part(comfyui, advanced_search):
    prompt = advanced_replay(comfyui, advanced_search[0])
    prompt["13"]["inputs"]["steps"] = 7
    error = refusal(comfyui, prompt)
    assert f"{ADVANCED_NAME}: sigmas: the report has 5 steps from 14.6" in error and ", this node has 7 steps from" in error
    prompt["13"]["inputs"].update(steps=5, scheduler="karras")
    assert "(sigma 1 is " in refusal(comfyui, prompt)


@pytest.mark.parametrize("node, inputs, message", [
    ("12", {"sampler_name": "heun"}, 'sampler: the report has "sample_euler", this node has "sample_heun".'),
    ("11", {"cfg": 6.0}, "guider cfg: the report has 4.0, this node has 6.0."),
    ("11", {"model": ["10", 0]},
     'model sampling: the report has "ModelSamplingDiscrete+EPS", this node has "ModelSamplingDiscrete+V_PREDICTION".'),
])
def test_the_advanced_replay_refuses_another_sampler_guider_or_model(comfyui, advanced_search, node, inputs, message):
    prompt = advanced_replay(comfyui, advanced_search[0])
    prompt[node]["inputs"].update(inputs)
    prompt["10"] = {"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["1", 0], "sampling": "v_prediction",
                                                                     "zsnr": False}}
    assert f"{ADVANCED_NAME}: {message}" in refusal(comfyui, prompt)


def test_the_advanced_replay_refuses_another_kind_of_guider(comfyui, advanced_search):
    prompt = advanced_replay(comfyui, advanced_search[0])
    prompt["11"] = {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["2", 0]}}
    assert f'{ADVANCED_NAME}: guider: the report has "CFGGuider", this node has "Guider_Basic".' in refusal(comfyui, prompt)


def set_op(position: int, key: str, value: Any):
    return lambda report: report["best_recipe"][position].__setitem__(key, value)


@pytest.mark.parametrize("edit, message", [
    (lambda report: report["best_recipe"].insert(1, {"op": "neighbour", "seed": 5, "angle": math.nan}),
     "best_recipe[1].angle is nan: an angle is a finite number of radians"),
    (set_op(0, "seed", math.inf), "best_recipe[0].seed is inf: a seed is an integer from 0 to 2**64 - 1"),
    (set_op(1, "stop", math.nan), "best_recipe[1].stop is nan: a denoise segment goes forward from step 0, so it is an "
                                  "integer from 1 to 6"),
    (set_op(1, "stop", "6"), "best_recipe[1].stop is '6': a denoise segment goes forward from step 0"),
    (lambda report: report["best_recipe"][0].pop("seed"),
     "best_recipe[0].seed is None: a seed is an integer from 0 to 2**64 - 1"),
    (lambda report: report["sampling"]["settings"].__setitem__("cfg", math.nan),
     "the report's sampling.settings.cfg is nan; its numbers are finite."),
    (lambda report: report["sampling"]["sigmas"].__setitem__(2, -math.inf),
     "the report's sampling.sigmas[2] is -inf; its numbers are finite."),
])
def test_a_damaged_report_is_refused_naming_the_field(comfyui, ksampler_search, edit, message):
    error = refusal(comfyui, ksampler_replay(comfyui, edited(ksampler_search[0], edit)))
    assert f"{REPLAY_NAME}: " in error and message in error and "connect the report output of the search" in error


def test_a_report_of_an_older_version_asks_for_a_new_search(comfyui, ksampler_search):
    """Pack 0.2.0 recorded only the sigmas and the latent's shape."""

    def as_made_by_0_2_0(report: dict[str, Any]) -> None:
        report["sampling"] = {key: report["sampling"][key] for key in ("sigmas", "latent_shape")}

    error = refusal(comfyui, ksampler_replay(comfyui, edited(ksampler_search[0], as_made_by_0_2_0)))
    assert f"{REPLAY_NAME}: the report was made by an older version of Noise Search" in error
    assert "Run the search again with this version and connect its report." in error
