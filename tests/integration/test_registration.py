"""The pack as ComfyUI and the registry see it: loaded nodes, node_list.json, pyproject's [tool.comfy]."""

from __future__ import annotations

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def pack_node_ids(nodes) -> set[str]:
    return {name for name, cls in nodes.NODE_CLASS_MAPPINGS.items()
            if getattr(cls, "RELATIVE_PYTHON_MODULE", "").endswith(REPO_ROOT.name) and name.startswith("NoiseSearch")}


def test_node_list_json_lists_exactly_the_loaded_nodes_with_their_display_names(comfyui):
    listed = json.loads((REPO_ROOT / "node_list.json").read_text())
    assert set(listed) == pack_node_ids(comfyui.nodes)
    for node_id, display_name in listed.items():
        assert comfyui.nodes.NODE_CLASS_MAPPINGS[node_id].GET_SCHEMA().display_name == display_name


def test_every_node_sits_in_the_packs_category_with_a_description(comfyui):
    for node_id in pack_node_ids(comfyui.nodes):
        schema = comfyui.nodes.NODE_CLASS_MAPPINGS[node_id].GET_SCHEMA()
        assert schema.category.startswith("sampling/noise search") and schema.description, node_id


def test_comfyuis_config_parser_reads_the_registry_section(comfyui):
    from comfy_config import config_parser

    config = config_parser.extract_node_configuration(str(REPO_ROOT))
    assert config.project.name == "comfyui-noise-search"
    assert config.tool_comfy.publisher_id and config.tool_comfy.display_name
    assert (REPO_ROOT / config.tool_comfy.icon).is_file()
    assert not any(dep.split("=")[0].split(">")[0].strip() in ("torch", "torchvision") for dep in config.project.dependencies)
