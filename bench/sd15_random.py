"""A full-size SD1.5-architecture checkpoint with random weights, for timing on a GPU.

Same UNet (860M parameters) and CLIP-L text encoder as SD1.5, a TAESD-shaped VAE. The UNet's output
convolution is zeroed so sampling stays finite over many steps; every layer still runs, which is what
a timing needs. Its images mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from headless.tiny_models import save_sd15_shaped_checkpoint

SD15_UNET_CONFIG = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8, "num_head_channels": -1,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_resblock": False, "use_temporal_attention": False,
}


def write_random_sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    import comfy.supported_models

    model_config = comfy.supported_models.SD15(dict(SD15_UNET_CONFIG))
    return save_sd15_shaped_checkpoint(path, model_config, torch.float16, seed, zero_output=True)
