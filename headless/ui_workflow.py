"""UI-format workflows (what ComfyUI's front end saves) to API format (what /prompt and the executor take).

Widget values are matched to the node's widget inputs in definition order; an INT with a
``control_after_generate`` widget (and any ``seed``/``noise_seed``, which the front end gives one)
carries one extra value, the control mode, which is skipped. Links become ``[node_id, output_slot]``.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
MUTED, BYPASSED = 2, 4
CONTROLLED_NAMES = {"seed", "noise_seed"}


class WorkflowConversionError(ValueError):
    """The UI workflow does not fit the installed nodes (missing node type or widget values)."""


def is_widget(spec: tuple) -> bool:
    kind = spec[0]
    return isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES


def has_control_value(name: str, spec: tuple) -> bool:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return spec[0] == "INT" and (bool(options.get("control_after_generate")) or name in CONTROLLED_NAMES)


def next_value(values: Iterator[Any], node: dict[str, Any], name: str) -> Any:
    try:
        return next(values)
    except StopIteration:
        raise WorkflowConversionError(
            f"node {node['id']} ({node['type']}) has no widget value for '{name}'; the workflow was saved with "
            "another version of the node"
        ) from None


def ui_to_api(workflow: dict[str, Any], node_classes: Mapping[str, Any]) -> dict[str, Any]:
    links = {link[0]: link for link in workflow.get("links", [])}
    prompt: dict[str, Any] = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) in (MUTED, BYPASSED) or node["type"] in ("Note", "MarkdownNote", "Reroute"):
            continue
        if node["type"] not in node_classes:
            raise WorkflowConversionError(f"node {node['id']}: no installed node type '{node['type']}'")
        definition = node_classes[node["type"]].INPUT_TYPES()
        linked = {slot["name"]: links[slot["link"]] for slot in node.get("inputs", []) if slot.get("link") is not None}
        values = iter(node.get("widgets_values") or [])
        inputs: dict[str, Any] = {}
        for section in ("required", "optional"):
            for name, spec in definition.get(section, {}).items():
                if is_widget(spec):
                    inputs[name] = next_value(values, node, name)
                    if has_control_value(name, spec):
                        next_value(values, node, f"{name} (control after generate)")
                if name in linked:
                    link = linked[name]
                    inputs[name] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
