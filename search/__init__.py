"""Search over sampling noise, guided by a verifier (arXiv 2501.09732).

Pure PyTorch: the diffusion sampler and the scorer are reached through the protocols in
:mod:`.protocols`, so nothing here imports ComfyUI.
"""

from .budget import NFEBudget
from .engine import Algorithm, run_search
from .errors import NonFiniteScore, SearchConfigError
from .fk_steering import FKSteering
from .paths import PathsSearch
from .protocols import Denoised, Denoiser, NullMonitor, Scorer, SearchMonitor
from .pruned_random import PrunedRandomSearch
from .random_search import RandomSearch
from .recipes import RecipeError, replay
from .result import Candidate, SearchResult
from .zero_order import ZeroOrderSearch

__all__ = [
    "Algorithm",
    "Candidate",
    "Denoised",
    "Denoiser",
    "FKSteering",
    "NFEBudget",
    "NonFiniteScore",
    "NullMonitor",
    "PathsSearch",
    "PrunedRandomSearch",
    "RandomSearch",
    "RecipeError",
    "Scorer",
    "SearchConfigError",
    "SearchMonitor",
    "SearchResult",
    "ZeroOrderSearch",
    "replay",
    "run_search",
]
