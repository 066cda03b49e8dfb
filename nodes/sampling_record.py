"""What a search's winner depends on, read off the ComfyUI objects it was sampled with.

The search writes this record into its report; a replay node builds the same record from its own
inputs and refuses any difference (:mod:`.replay_checks`), so a replay either re-makes the winner or
says which input differs.
"""

from __future__ import annotations

import math
from typing import Any

import torch

import comfy.samplers

RECORD_FORMAT = 2
"""Version of the record; reports before it (pack 0.2.0 and older) recorded only sigmas and the latent shape."""

Fingerprint = dict[str, Any]
"""A tensor in a few numbers, ``{"shape", "sum", "abs_sum", "weighted_sum"}``: tells two prompts or images apart.

A prompt's embedding is layer-normalised, so its sum is near zero whatever the text; the weighted sum
(each value times the cosine of its position times an irrational step) also sees where values are.
"""

FINGERPRINT_STEP = 2 * math.pi * 0.6180339887498949


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it (infinite floats as text, so a report's numbers stay finite), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(item, (bool, int, float, str)) for item in value):
        return [plain(item) for item in value]
    return None


def scalar_settings(attributes: dict[str, Any]) -> dict[str, Any]:
    """The plain settings among an object's attributes (cfg, shift, eta...).

    Tensors, models and callables are left out: they cannot be compared from a report.
    """
    settings = {name: plain(value) for name, value in sorted(attributes.items()) if not name.startswith("_")}
    return {name: value for name, value in settings.items() if value is not None and name != "training"}


def fingerprint(tensor: torch.Tensor) -> Fingerprint:
    values = tensor.detach().double().flatten()
    weights = torch.cos(torch.arange(values.numel(), dtype=torch.float64, device=values.device) * FINGERPRINT_STEP)
    return {
        "shape": list(tensor.shape), "sum": float(values.sum()), "abs_sum": float(values.abs().sum()),
        "weighted_sum": float((values * weights).sum()),
    }


def model_sampling_record(model_patcher: Any) -> dict[str, Any]:
    """The model's sampling: its noise schedule and prediction type (``ModelSamplingDiscrete+EPS``) and settings.

    ComfyUI composes ``model_sampling`` as an empty subclass of (schedule, prediction), in its model
    classes and in the ModelSampling* patch nodes alike; the class's own name says nothing, its bases do.
    """
    model_sampling = model_patcher.get_model_object("model_sampling")
    cls = type(model_sampling)
    composed = all(name.startswith("__") for name in vars(cls))
    name = "+".join(base.__name__ for base in cls.__bases__) if composed else cls.__name__
    return {"type": name, **scalar_settings(vars(model_sampling))}


def sampler_record(sampler: Any) -> dict[str, Any]:
    """A SAMPLER: its sampling function (``sample_euler``) and its options (eta, s_noise...) where it has them."""
    if isinstance(sampler, comfy.samplers.KSAMPLER):
        inpaint = {f"inpaint_{name}": value for name, value in scalar_settings(sampler.inpaint_options).items()}
        return {"type": sampler.sampler_function.__name__, **scalar_settings(sampler.extra_options), **inpaint}
    return {"type": type(sampler).__name__, **scalar_settings(vars(sampler))}


def guider_record(guider: Any) -> dict[str, Any]:
    """A GUIDER: its class (``CFGGuider``, ``Guider_Basic``...) and its scales (cfg, cfg1, neg_scale...)."""
    return {"type": type(guider).__name__, **scalar_settings(vars(guider))}


def conditioning_record(guider: Any) -> dict[str, list[dict[str, Any]]]:
    """The guider's conditionings (positive, negative...): each entry's tensors fingerprinted.

    Plain settings (Flux guidance, strength, area) are kept as they are; other objects (a ControlNet)
    by their class name only.
    """
    conds = getattr(guider, "original_conds", {})
    return {
        name: [{key: cond_value(value) for key, value in sorted(entry.items()) if key not in ("uuid", "model_conds")}
               for entry in entries]
        for name, entries in conds.items()
    }


def cond_value(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return fingerprint(value)
    value_as_json = plain(value)
    return type(value).__name__ if value_as_json is None else value_as_json


def sampling_record(
    guider: Any, sampler: Any, sigmas: torch.Tensor, samples: torch.Tensor, latent: dict[str, Any],
    settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """Everything a replay must match, in the order a replay checks it.

    ``settings`` are the KSampler-style node's own inputs (steps, cfg, sampler_name, scheduler, denoise),
    so a mismatch there is named as the input the user sees; ``None`` for the advanced node.
    """
    noise_mask = latent.get("noise_mask")
    batch_index = latent.get("batch_index")
    record: dict[str, Any] = {"format": RECORD_FORMAT}
    if settings is not None:
        record["settings"] = dict(settings)
    record.update({
        "latent_shape": list(samples.shape),
        "latent_content": fingerprint(samples),
        "latent_batch_index": None if batch_index is None else [int(i) for i in batch_index],
        "noise_mask": None if noise_mask is None else fingerprint(noise_mask),
        "model_sampling": model_sampling_record(guider.model_patcher),
        "sampler": sampler_record(sampler),
        "guider": guider_record(guider),
        "conditioning": conditioning_record(guider),
        "sigmas": [float(s) for s in sigmas],
    })
    return record
