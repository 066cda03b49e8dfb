"""comfyui-noise-search: inference-time scaling for diffusion models by searching over sampling noise.

ComfyUI imports this folder as a package from ``custom_nodes/`` and calls ``comfy_entrypoint``.
Tools that import this file outside ComfyUI (pytest collects it as a package) get no nodes.
"""

from importlib.util import find_spec

WEB_DIRECTORY = "./web"

if find_spec("comfy_api") is not None:
    from .nodes import comfy_entrypoint  # noqa: F401
