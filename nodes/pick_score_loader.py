"""Loader node for PickScore: the PickScore_v1 CLIPModel folder and CLIP-ViT-H-14's processor files."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..verifiers import load_pick_score_verifier
from ..verifiers.downloads import CLIP_PROCESSOR, PICK_SCORE
from ..verifiers.pick_score import PREPROCESSOR_CONFIG
from .comfy_types import CATEGORY, VerifierSocket
from .models_folder import folders_holding, list_transformers_folders
from .node_errors import reported_as
from .open_clip_inputs import download_input
from .verifier_cache import cached_verifier, weights_fingerprint
from .weights import ensure_weights, weight_options

DISPLAY_NAME = "Load PickScore Verifier (Noise Search)"
HOW_TO_GET = (
    "Use config.json and model.safetensors from the Hugging Face repository yuvalkirstain/PickScore_v1, in a folder "
    "(e.g. models/verifiers/PickScore_v1/)."
)
PROCESSOR_HOW_TO_GET = (
    "Use preprocessor_config.json and the tokenizer files (tokenizer.json, tokenizer_config.json, "
    "special_tokens_map.json, vocab.json, merges.txt) from laion/CLIP-ViT-H-14-laion2B-s32B-b79K, in a folder "
    "(e.g. models/verifiers/CLIP-ViT-H-14-laion2B-s32B-b79K/)."
)


class LoadPickScoreVerifier(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchPickScoreVerifierLoader",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Scores each image by PickScore, a CLIP-H model fine-tuned on people's choices between images "
            "for a prompt (Pick-a-Pic): the image-prompt cosine times the model's logit scale, higher is better; needs "
            "the prompt as verifier_text. About 4 GB of weights (fp32 on disk, fp16 on a GPU).",
            inputs=[
                io.Combo.Input("weights", options=sorted(set(weight_options(PICK_SCORE)) | set(list_transformers_folders())),
                               tooltip="A transformers CLIPModel folder with PickScore's config.json and model.safetensors "
                               "(yuvalkirstain/PickScore_v1, about 3.9 GB) in models/verifiers."),
                io.Combo.Input("processor",
                               options=sorted(set(weight_options(CLIP_PROCESSOR)) | set(folders_holding(PREPROCESSOR_CONFIG))),
                               tooltip="A folder with the CLIP processor PickScore was trained with: preprocessor_config.json "
                               "and the tokenizer files of laion/CLIP-ViT-H-14-laion2B-s32B-b79K (a few MB)."),
                download_input(),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, processor: str, **settings: Any) -> tuple:
        return weights_fingerprint(weights, processor)

    @classmethod
    def execute(cls, weights: str, processor: str, download: bool) -> io.NodeOutput:
        with reported_as(DISPLAY_NAME):
            model_folder = ensure_weights(weights, download, HOW_TO_GET)
            processor_folder = ensure_weights(processor, download, PROCESSOR_HOW_TO_GET)
            return io.NodeOutput(cached_verifier(
                "pick_score", [model_folder, processor_folder], (),
                lambda: load_pick_score_verifier(model_folder, processor_folder),
            ))
