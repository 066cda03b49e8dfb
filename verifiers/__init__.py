"""Verifiers: models that score decoded images, higher is better.

Pure PyTorch (plus open_clip): nothing here imports ComfyUI, so the verifiers can be tested and
benchmarked alone. ``score(images [B, H, W, C] in 0..1, condition) -> Tensor[B]``.

Verifiers score in ``torch.inference_mode``: ComfyUI moves weights between devices inside its own
inference mode, which turns them into inference tensors that only work there.
"""

from .aesthetic import AestheticVerifier
from .clip_score import CLIPScoreVerifier
from .dinov2_classifier import DINOv2ClassLogitVerifier, load_dinov2_verifier
from .errors import VerifierConditionError, VerifierConfigError, VerifierWeightsMissing
from .hps_v2 import HPSv2Verifier, load_hps_v2_verifier
from .hps_v3 import HPSv3Verifier, load_hps_v3_verifier
from .image_features import load_image_features
from .image_reward import ImageRewardVerifier, load_image_reward_verifier
from .open_clip_loading import (
    list_open_clip_weights,
    load_aesthetic_verifier,
    load_clip_score_verifier,
    load_self_supervised_verifier,
    load_zero_shot_verifier,
)
from .pick_score import PickScoreVerifier, load_pick_score_verifier
from .protocol import Verifier
from .self_supervised import SelfSupervisedVerifier
from .source_similarity import SourceSimilarityVerifier
from .temporal_consistency import TemporalConsistencyVerifier
from .zero_shot import CLIPZeroShotVerifier, imagenet_1k_classes

__all__ = [
    "AestheticVerifier",
    "CLIPScoreVerifier",
    "CLIPZeroShotVerifier",
    "DINOv2ClassLogitVerifier",
    "HPSv2Verifier",
    "HPSv3Verifier",
    "ImageRewardVerifier",
    "PickScoreVerifier",
    "SelfSupervisedVerifier",
    "SourceSimilarityVerifier",
    "TemporalConsistencyVerifier",
    "Verifier",
    "VerifierConditionError",
    "VerifierConfigError",
    "VerifierWeightsMissing",
    "list_open_clip_weights",
    "load_aesthetic_verifier",
    "load_clip_score_verifier",
    "imagenet_1k_classes",
    "load_dinov2_verifier",
    "load_hps_v2_verifier",
    "load_image_features",
    "load_hps_v3_verifier",
    "load_image_reward_verifier",
    "load_pick_score_verifier",
    "load_self_supervised_verifier",
    "load_zero_shot_verifier",
]
