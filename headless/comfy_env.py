"""Importing a real ComfyUI tree in this process, with this pack loaded by ComfyUI's own loader."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent
PINNED_COMFYUI = REPO_ROOT / ".comfyui" / "ComfyUI"


def comfyui_path() -> Path:
    """``COMFYUI_PATH`` if set, else the pinned tree that ``scripts/setup.sh`` installs."""
    path = Path(os.environ.get("COMFYUI_PATH", PINNED_COMFYUI)).resolve()
    if not (path / "comfy" / "samplers.py").is_file():
        raise RuntimeError(
            f"no ComfyUI tree at {path}: run scripts/setup.sh (installs the pinned one) or set COMFYUI_PATH "
            "to your ComfyUI checkout"
        )
    return path


def import_comfyui(base_directory: Path, cpu: bool = True) -> ModuleType:
    """Import ComfyUI with models/, input/, output/ and user/ under ``base_directory``; returns ``nodes``.

    Must run before anything imports ``comfy.model_management`` (it reads the device flags on import).
    """
    root = str(comfyui_path())
    if root not in sys.path:
        sys.path.insert(0, root)
    from comfy.cli_args import args

    args.cpu = cpu
    args.base_directory = str(base_directory)
    args.disable_all_custom_nodes = False
    import utils.extra_config  # noqa: F401  (as main.py does: ComfyUI's ``utils`` package before ``nodes`` puts comfy/ first on sys.path)
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    return nodes


def load_pack(nodes: ModuleType, pack_dir: Path = REPO_ROOT) -> None:
    """Load this pack the way ComfyUI loads a folder in ``custom_nodes/``."""
    if not asyncio.run(nodes.load_custom_node(str(pack_dir))):
        raise RuntimeError(f"ComfyUI could not load the custom node pack at {pack_dir} (see the log above)")
