"""Search over sampling noise, guided by a verifier (arXiv 2501.09732).

Pure PyTorch: the diffusion sampler and the scorer are reached through the protocols in
:mod:`.protocols`, so nothing here imports ComfyUI.
"""

from .errors import SearchConfigError
from .protocols import Denoiser, NullMonitor, Scorer, SearchMonitor
from .random_search import RandomSearch
from .result import Candidate, SearchResult

__all__ = [
    "Candidate",
    "Denoiser",
    "NullMonitor",
    "RandomSearch",
    "Scorer",
    "SearchConfigError",
    "SearchMonitor",
    "SearchResult",
]
