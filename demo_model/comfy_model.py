"""The demo digit model as ComfyUI model classes: a conv UNet (ComfyUI's ``UNetModel``), V-prediction on
ComfyUI's default discrete schedule, class labels through the ``y`` (ADM) input, RGB pixel space.

V-prediction, not EPS: at the schedule's top noise level (sigma 14.6, far above what 16×16 pixels need)
an EPS model's x0 estimate multiplies its error by sigma, and those early mistakes survive as speckle
in the final samples; a V model's estimate stays bounded there.

A class label travels in the conditioning's options (``class_label``), as SDXL's size conditioning does;
label ``NULL_CLASS`` is the unconditional one classifier-free guidance needs (the negative).
"""

from __future__ import annotations

from pathlib import Path

import torch

import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.sd
import comfy.supported_models_base
import comfy.utils

from .digits import IMAGE_SIZE, NUM_CLASSES

NULL_CLASS = NUM_CLASSES
CLASS_LABEL_KEY = "class_label"

UNET_CONFIG = {
    "image_size": IMAGE_SIZE,
    "in_channels": 3,
    "out_channels": 3,
    "model_channels": 32,
    "num_res_blocks": [1, 1],
    "channel_mult": [1, 2],
    "transformer_depth": [0, 0],
    "transformer_depth_output": [0, 0, 0, 0],
    "transformer_depth_middle": -1,
    "use_spatial_transformer": False,
    "context_dim": None,
    "num_classes": "sequential",
    "adm_in_channels": NUM_CLASSES + 1,
    "legacy": False,
    "use_linear_in_transformer": False,
    "use_temporal_resblock": False,
    "use_temporal_attention": False,
    "use_checkpoint": False,
}


class PixelSpaceRGB(comfy.latent_formats.LatentFormat):
    """RGB pixels in -1..1 as the latent (ComfyUI's ``pixel_space`` VAE); previews are the pixels."""

    latent_channels = 3

    def __init__(self) -> None:
        self.latent_rgb_factors = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


class DemoDigitsModel(comfy.model_base.BaseModel):
    def encode_adm(self, **kwargs) -> torch.Tensor:
        label = int(kwargs.get(CLASS_LABEL_KEY, NULL_CLASS))
        return torch.nn.functional.one_hot(torch.tensor([label]), NUM_CLASSES + 1).float()


class DemoDigitsConfig(comfy.supported_models_base.BASE):
    unet_config = UNET_CONFIG
    latent_format = PixelSpaceRGB
    memory_usage_factor = 1.0
    supported_inference_dtypes = [torch.float32]

    def model_type(self, state_dict: dict, prefix: str = "") -> comfy.model_base.ModelType:
        return comfy.model_base.ModelType.V_PREDICTION

    def get_model(self, state_dict: dict, prefix: str = "", device: torch.device | None = None) -> DemoDigitsModel:
        return DemoDigitsModel(self, model_type=self.model_type(state_dict, prefix), device=device)


def build_model(dtype: torch.dtype = torch.float32, manual_cast_dtype: torch.dtype | None = None) -> DemoDigitsModel:
    config = DemoDigitsConfig(UNET_CONFIG)
    config.set_inference_dtype(dtype, manual_cast_dtype)
    return config.get_model({})


def load_demo_model(path: Path) -> comfy.model_patcher.ModelPatcher:
    """The committed weights as a ComfyUI MODEL, on the device (and in the dtype) ComfyUI picks."""
    state_dict = comfy.utils.load_torch_file(str(path), safe_load=True)
    load_device = comfy.model_management.get_torch_device()
    offload_device = comfy.model_management.unet_offload_device()
    manual_cast = comfy.model_management.unet_manual_cast(torch.float32, load_device, DemoDigitsConfig.supported_inference_dtypes)
    model = build_model(torch.float32, manual_cast)
    expected = set(model.diffusion_model.state_dict())
    if set(state_dict) != expected:
        raise ValueError(
            f"{path.name} does not hold the demo digit UNet: {len(expected - set(state_dict))} weights missing, "
            f"{len(set(state_dict) - expected)} unexpected; run `python -m demo_model.train` to remake it"
        )
    model.diffusion_model.load_state_dict(state_dict)
    return comfy.model_patcher.ModelPatcher(model.to(offload_device), load_device=load_device, offload_device=offload_device)


def pixel_space_vae() -> comfy.sd.VAE:
    """ComfyUI's ``pixel_space`` VAE, as its VAE loader makes it."""
    return comfy.sd.VAE(sd={"pixel_space_vae": torch.tensor(1.0)})


def class_conditioning(label: int) -> list:
    """CONDITIONING for one class label (``NULL_CLASS`` for the unconditional negative)."""
    return [[None, {CLASS_LABEL_KEY: label}]]
