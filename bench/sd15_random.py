"""A full-size SD1.5-architecture checkpoint with random weights, for timing on a GPU.

Same UNet (860M parameters) and CLIP-L text encoder as SD1.5, a TAESD-shaped VAE. The UNet's output
convolution is zeroed so sampling stays finite over many steps; every layer still runs, which is what
a timing needs. Its images mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from headless.tiny_models import initialise

SD15_UNET_CONFIG = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8, "num_head_channels": -1,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_resblock": False, "use_temporal_attention": False,
}


def write_random_sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    import comfy.model_management
    import comfy.model_patcher
    import comfy.sd
    import comfy.supported_models
    import comfy.taesd.taesd

    model_config = comfy.supported_models.SD15(dict(SD15_UNET_CONFIG))
    model_config.set_inference_dtype(torch.float16, None)
    model = model_config.get_model({})
    initialise(model, seed)
    with torch.no_grad():
        for parameter in model.diffusion_model.out.parameters():
            parameter.zero_()
    patcher = comfy.model_patcher.ModelPatcher(
        model, load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device(),
    )
    clip = comfy.sd.CLIP(target=model_config.clip_target())
    initialise(clip.cond_stage_model, seed + 1)
    taesd = comfy.taesd.taesd.TAESD(latent_channels=4)
    initialise(taesd, seed + 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    comfy.sd.save_checkpoint(str(path), patcher, clip, comfy.sd.VAE(sd=taesd.state_dict()))
    return path
