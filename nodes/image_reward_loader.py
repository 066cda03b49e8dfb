"""Loader node for ImageReward (THUDM): ImageReward.pt + med_config.json and bert-base-uncased's tokenizer files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from comfy_api.latest import io

from ..verifiers import VerifierConfigError, load_image_reward_verifier
from ..verifiers.downloads import BERT_TOKENIZER, IMAGE_REWARD
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import folders_holding
from .node_errors import reported_as
from .open_clip_inputs import download_input
from .verifier_cache import cached_verifier, weights_fingerprint
from .weights import ensure_weights, weight_options

DISPLAY_NAME = "Load ImageReward Verifier (Noise Search)"
CHECKPOINT_NAME, MED_CONFIG_NAME, VOCAB_NAME = "ImageReward.pt", "med_config.json", "vocab.txt"
HOW_TO_GET = (
    "Use ImageReward.pt and med_config.json from the Hugging Face repository THUDM/ImageReward, in a folder "
    "(e.g. models/verifiers/ImageReward/)."
)
TOKENIZER_HOW_TO_GET = (
    "Use bert-base-uncased's tokenizer files (vocab.txt, tokenizer_config.json from google-bert/bert-base-uncased) "
    "in a folder (e.g. models/verifiers/bert-base-uncased/)."
)


def image_reward_files(path: Path) -> tuple[Path, Path | None]:
    """The checkpoint and its med_config.json (None when absent: the released values) for a folder or a file."""
    checkpoint = path / CHECKPOINT_NAME if path.is_dir() else path
    if not checkpoint.is_file():
        raise VerifierConfigError(f"{path} holds no {CHECKPOINT_NAME}. {HOW_TO_GET}")
    med_config = checkpoint.parent / MED_CONFIG_NAME
    return checkpoint, med_config if med_config.is_file() else None


class LoadImageRewardVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchImageRewardVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores each image by ImageReward, a BLIP model trained on human preferences between images "
            "for a prompt (about -2 to 2, higher is better); needs the prompt as verifier_text.",
            inputs=[
                io.Combo.Input("weights", options=sorted({*weight_options(IMAGE_REWARD), *folders_holding(CHECKPOINT_NAME)}),
                               tooltip="A folder with ImageReward.pt and med_config.json (THUDM/ImageReward) in "
                               "models/verifiers, or the ImageReward.pt file itself."),
                io.Combo.Input("tokenizer", options=sorted({*weight_options(BERT_TOKENIZER), *folders_holding(VOCAB_NAME)}),
                               tooltip="A folder with bert-base-uncased's vocab.txt in models/verifiers."),
                download_input(),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, tokenizer: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights, tokenizer)

    @classmethod
    def execute(cls, weights: str, tokenizer: str, download: bool) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            checkpoint, med_config = image_reward_files(ensure_weights(weights, download, HOW_TO_GET))
            tokenizer_folder = ensure_weights(tokenizer, download, TOKENIZER_HOW_TO_GET)
            files = [checkpoint, tokenizer_folder] + ([med_config] if med_config else [])
            return io.NodeOutput(cached_verifier(
                "image_reward", files, (),
                lambda: load_image_reward_verifier(checkpoint, med_config, tokenizer_folder),
            ))
