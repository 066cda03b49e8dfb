"""Loader node for HPSv2.1 (or v2.0): HPS_v2.1_compressed.pt, the whole open_clip ViT-H-14 in one file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from comfy_api.latest import io

from ..verifiers import VerifierConfigError, load_hps_v2_verifier
from ..verifiers.downloads import HPS_V2
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import files_and_folders_matching
from .node_errors import reported_as
from .open_clip_inputs import download_input
from .verifier_cache import cached_verifier, weights_fingerprint
from .weights import ensure_weights, weight_options

DISPLAY_NAME = "Load HPSv2.1 Verifier (Noise Search)"
CHECKPOINT_PATTERN = "HPS_v2*.pt"
RELEASED_CHECKPOINT = "HPS_v2.1_compressed.pt"
HOW_TO_GET = (
    "Use HPS_v2.1_compressed.pt (or v2.0's HPS_v2_compressed.pt) from the Hugging Face repository xswu/HPSv2, in a "
    "folder (e.g. models/verifiers/HPSv2.1/) or as the file itself."
)


def hps_checkpoint(path: Path) -> Path:
    """The checkpoint itself, for a file or a folder: its HPS_v2.1_compressed.pt, else its only HPS_v2*.pt (a Hugging
    Face cache folder of xswu/HPSv2 may hold v2.0's checkpoint beside v2.1's)."""
    if path.is_file():
        return path
    if (path / RELEASED_CHECKPOINT).is_file():
        return path / RELEASED_CHECKPOINT
    checkpoints = sorted(path.glob(CHECKPOINT_PATTERN))
    if len(checkpoints) != 1:
        found = f"{len(checkpoints)} ({', '.join(c.name for c in checkpoints)})" if checkpoints else "none"
        raise VerifierConfigError(f"{path} should hold {RELEASED_CHECKPOINT} or one {CHECKPOINT_PATTERN} checkpoint, "
                                  f"it holds {found}. {HOW_TO_GET}")
    return checkpoints[0]


class LoadHPSv2Verifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchHPSv2VerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores each image by HPSv2.1 (Human Preference Score), an open_clip ViT-H-14 fine-tuned on "
            "people's choices between images for a prompt: the image-prompt cosine, higher is better; needs the "
            "prompt as verifier_text. Sees the whole image (longest side to 224 px, padded), not a centre crop.",
            inputs=[
                io.Combo.Input("weights", options=sorted({*weight_options(HPS_V2), *files_and_folders_matching(CHECKPOINT_PATTERN)}),
                               tooltip="HPS_v2.1_compressed.pt (xswu/HPSv2, about 2 GB) in models/verifiers, or a folder "
                               "holding it. Holds the whole CLIP: no other weights are needed."),
                download_input(),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights)

    @classmethod
    def execute(cls, weights: str, download: bool) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            checkpoint = hps_checkpoint(ensure_weights(weights, download, HOW_TO_GET))
            return io.NodeOutput(cached_verifier("hps_v2", [checkpoint], (), lambda: load_hps_v2_verifier(checkpoint)))
