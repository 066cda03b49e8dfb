"""A replay node's checks: the report is an intact one of this pack, made with the node's own settings.

Each refusal is one message naming the node, the field, the report's value and the node's, and the fix.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from ..search.recipes import Recipe, RecipeError, check_recipe
from .node_errors import NodeInputError
from .sampling_record import RECORD_FORMAT

OTHER_FIX = "or connect the report of the search this graph runs"
DAMAGED_FIX = "The report was changed or damaged: connect the report output of the search, or paste it unchanged."

FIELDS: dict[str, tuple[str, str]] = {
    "latent_shape": ("latent_image shape", "Connect a latent of the search's size (the same Empty Latent Image)"),
    "latent_content": ("latent_image content", "Connect the latent the search sampled (the same image)"),
    "latent_batch_index": ("latent_image batch_index", "Connect the latent the search sampled"),
    "noise_mask": ("latent_image noise_mask", "Connect the latent the search sampled, with its mask"),
    "model_sampling": ("model sampling", "Connect the model the search used, with the same ModelSampling nodes"),
    "sampler": ("sampler", "Connect the sampler the search used, with the same settings"),
    "guider": ("guider", "Connect a guider like the search's (same kind, same cfg)"),
    "conditioning": ("conditioning", "Connect the prompts (conditioning) the search used"),
    "sigmas": ("sigmas", "Connect the sigmas the search used (same scheduler, steps and denoise on the same model)"),
}
"""Each part of the record a replay checks (after the KSampler-style settings): its label and its fix."""

SIGMA_RTOL, SIGMA_ATOL = 1e-6, 1e-8
"""Sigmas are recorded at full precision; a replay's own schedule matches them up to float rounding."""
FINGERPRINT_RTOL = 1e-5
"""Sums of a prompt's embedding or a latent, in float64: equal up to float rounding for the same tensor."""


def parse_report(node_name: str, text: str) -> dict[str, Any]:
    """The report as JSON, made by this version's search node, with finite numbers in what a replay reads."""
    try:
        report = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise not_a_report(node_name, f"it is not JSON: {error}") from error
    if not isinstance(report, dict) or not isinstance(report.get("sampling"), dict) or "best_recipe" not in report:
        raise not_a_report(node_name, "it has no sampling record or no best_recipe")
    sampling = report["sampling"]
    record_format = sampling.get("format")
    if record_format != RECORD_FORMAT:
        made_by = "a newer" if isinstance(record_format, int) and record_format > RECORD_FORMAT else "an older"
        raise NodeInputError(
            f"{node_name}: the report was made by {made_by} version of Noise Search, which records what a "
            "replay must match differently (latent shape, model sampling, sampler, cfg, sigmas...). Run the "
            "search again with this version and connect its report."
        )
    check_finite(node_name, sampling)
    return report


def not_a_report(node_name: str, reason: str) -> NodeInputError:
    return NodeInputError(
        f"{node_name}: report is not a Noise Search report ({reason}). Connect the report output of a Noise Search "
        "Sampler, or paste its text."
    )


def check_finite(node_name: str, sampling: dict[str, Any]) -> None:
    """Every number in the sampling record is finite; the first that is not is named by its path."""
    pending: list[tuple[str, Any]] = [("sampling", sampling)]
    while pending:
        field, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise NodeInputError(f"{node_name}: the report's {field} is {value}; its numbers are finite. {DAMAGED_FIX}")
        if isinstance(value, dict):
            pending.extend((f"{field}.{key}", item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((f"{field}[{index}]", item) for index, item in reversed(list(enumerate(value))))


def check_same_sampling(node_name: str, reported: dict[str, Any], own: dict[str, Any]) -> None:
    """Refuse the first field where the report's record and the node's own differ.

    The KSampler-style settings are compared when both sides have them (a report of either search
    node replays on either replay node: the fields after them decide the result).
    """
    if isinstance(reported.get("settings"), dict) and "settings" in own:
        for name, value in own["settings"].items():
            expect_same(node_name, name, reported["settings"].get(name), value, f"Set {name} as the search had it")
    for key, (label, fix) in FIELDS.items():
        if key == "sigmas":
            check_same_sigmas(node_name, reported.get(key), own[key])
        else:
            check_same(node_name, label, fix, reported.get(key), own[key])


def check_same(node_name: str, label: str, fix: str, reported: Any, own: Any) -> None:
    """Equal, field by field: an object's kind before its settings, a list of entries by its length, then each.

    Fingerprints are equal up to float rounding; everything else exactly.
    """
    if is_fingerprint(own) or is_fingerprint(reported):
        if not (is_fingerprint(reported) and is_fingerprint(own) and same_fingerprint(reported, own)):
            raise mismatch(node_name, label, show(reported), show(own), fix)
    elif isinstance(own, dict) and isinstance(reported, dict):
        for name in dict.fromkeys([*own, *reported]):
            check_same(node_name, label if name == "type" else f"{label} {name}", fix, reported.get(name), own.get(name))
    elif isinstance(own, list) and any(isinstance(entry, dict) for entry in own) and isinstance(reported, list):
        if len(reported) != len(own):
            raise mismatch(node_name, label, f"{len(reported)} entries", f"{len(own)} entries", fix)
        for index, (theirs, mine) in enumerate(zip(reported, own)):
            check_same(node_name, f"{label}[{index}]", fix, theirs, mine)
    else:
        expect_same(node_name, label, reported, own, fix)


def is_fingerprint(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"shape", "sum", "abs_sum", "weighted_sum"}


def same_fingerprint(reported: dict[str, Any], own: dict[str, Any]) -> bool:
    """Same shape, and sums within float rounding of the values' size (``abs_sum`` bounds all three)."""
    if reported["shape"] != own["shape"]:
        return False
    tolerance = FINGERPRINT_RTOL * max(abs(own["abs_sum"]), 1.0)
    try:
        return all(abs(reported[key] - own[key]) <= tolerance for key in ("sum", "abs_sum", "weighted_sum"))
    except TypeError:
        return False


def expect_same(node_name: str, label: str, reported: Any, own: Any, fix: str) -> None:
    if reported != own:
        raise mismatch(node_name, label, show(reported), show(own), fix)


def mismatch(node_name: str, label: str, reported: str, own: str, fix: str) -> NodeInputError:
    return NodeInputError(f"{node_name}: {label}: the report has {reported}, this node has {own}. {fix}, {OTHER_FIX}.")


def check_same_sigmas(node_name: str, reported: Any, own: list[float]) -> None:
    label, fix = FIELDS["sigmas"]
    numbers = isinstance(reported, list) and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in reported)
    if not numbers:
        raise mismatch(node_name, label, show(reported), describe_sigmas(own, []), fix)
    recorded, mine = torch.tensor(reported, dtype=torch.float64), torch.tensor(own, dtype=torch.float64)
    if recorded.shape != mine.shape or not torch.allclose(recorded, mine, rtol=SIGMA_RTOL, atol=SIGMA_ATOL):
        raise mismatch(node_name, label, describe_sigmas(reported, own), describe_sigmas(own, reported), fix)


def describe_sigmas(sigmas: list[float], other: list[float]) -> str:
    """A schedule in a few words: its steps and ends, and where it first parts from ``other`` of its length."""
    if not sigmas:
        return "no sigmas"
    text = f"{len(sigmas) - 1} steps from {sigmas[0]:.6g} to {sigmas[-1]:.6g}"
    if len(sigmas) == len(other):
        differing = (i for i, (a, b) in enumerate(zip(sigmas, other)) if abs(a - b) > SIGMA_ATOL + SIGMA_RTOL * abs(b))
        first = next(differing, None)
        if first is not None:
            text += f" (sigma {first} is {sigmas[first]:.6g})"
    return text


def show(value: Any) -> str:
    if value is None:
        return "no value"
    if is_fingerprint(value) and isinstance(value["sum"], (int, float)) and isinstance(value["abs_sum"], (int, float)):
        return f"a {value['shape']} tensor summing to {value['sum']:.7g} (absolute values {value['abs_sum']:.7g})"
    return json.dumps(value)


def checked_recipe(node_name: str, recipe: Any, steps: int) -> Recipe:
    try:
        return check_recipe(recipe, steps, name="best_recipe")
    except RecipeError as error:
        raise NodeInputError(f"{node_name}: the report's {error}. {DAMAGED_FIX}") from error
