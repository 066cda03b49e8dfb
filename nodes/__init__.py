"""ComfyUI nodes: thin adapters from ComfyUI's types to the ``search`` and ``verifiers`` libraries."""

from comfy_api.latest import ComfyExtension, io

from .advanced_search_sampler import AdvancedSearchSampler
from .aesthetic_loader import LoadAestheticVerifier
from .algorithm_nodes import FKSteeringNode, PathsSearchNode, PrunedRandomSearchNode, RandomSearchNode, ZeroOrderSearchNode
from .demo_model_nodes import DemoDigit, LoadDemoDigitVerifier, LoadDemoModel
from .dinov2_loader import LoadDINOv2Verifier
from .ensemble_node import VerifierEnsemble
from .feature_similarity_loaders import LoadSourceSimilarityVerifier, LoadTemporalConsistencyVerifier
from .hps_loader import LoadHPSv2Verifier
from .hps_v3_loader import LoadHPSv3Verifier
from .image_reward_loader import LoadImageRewardVerifier
from .models_folder import register_verifiers_folder
from .pick_score_loader import LoadPickScoreVerifier
from .replay_node import ReplaySearch, ReplaySearchAdvanced
from .score_images import ScoreImages
from .search_sampler import SearchSampler
from .self_supervised_loader import LoadSelfSupervisedVerifier
from .verifier_loader import LoadCLIPScoreVerifier
from .video_frames_node import VideoFramesForVerifier
from .vlm_judge_loader import LoadVLMJudgeVerifier
from .zero_shot_loader import LoadZeroShotVerifier

NODES: list[type[io.ComfyNode]] = [
    SearchSampler,
    AdvancedSearchSampler,
    RandomSearchNode,
    ZeroOrderSearchNode,
    PathsSearchNode,
    FKSteeringNode,
    PrunedRandomSearchNode,
    ReplaySearch,
    ReplaySearchAdvanced,
    LoadCLIPScoreVerifier,
    LoadSelfSupervisedVerifier,
    LoadAestheticVerifier,
    LoadZeroShotVerifier,
    LoadDINOv2Verifier,
    LoadSourceSimilarityVerifier,
    LoadTemporalConsistencyVerifier,
    VerifierEnsemble,
    VideoFramesForVerifier,
    ScoreImages,
    LoadDemoModel,
    DemoDigit,
    LoadDemoDigitVerifier,
    LoadImageRewardVerifier,
    LoadVLMJudgeVerifier,
    LoadPickScoreVerifier,
    LoadHPSv2Verifier,
    LoadHPSv3Verifier,
]


class NoiseSearchExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> NoiseSearchExtension:
    register_verifiers_folder()
    return NoiseSearchExtension()
