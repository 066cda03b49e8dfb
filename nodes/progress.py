"""Progress, previews and cancel for a search, through ComfyUI's own progress bar and interrupt flag.

The search's status (candidates done, best score, NFEs) goes to the web extension as its own event,
``noise_search.status``, which the extension draws on the node's one status line. ComfyUI's
``progress_text`` would also be drawn by the front end under the node, saying the same thing twice.
"""

from __future__ import annotations

from typing import Any, Callable

StatusSender = Callable[[dict[str, Any]], None]

import torch

import comfy.model_management
import comfy.utils
import latent_preview

from .comfy_sampling import NFECounter


class SearchProgress:
    """One progress bar for the whole search, counted in NFEs, with latent previews after each step.

    Implements the search's ``SearchMonitor`` (plan, cancel between sampler calls, progress text)
    and the denoiser's step hook.
    """

    def __init__(self, model: Any, counter: NFECounter, send_status: StatusSender | None = None) -> None:
        self.counter = counter
        self.start = counter.count
        self.total = 1
        self.bar = comfy.utils.ProgressBar(self.total)
        self.send_status = send_status
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def planned(self, total_nfes: int) -> None:
        self.total = max(1, total_nfes)

    def on_step(self, x0: torch.Tensor) -> None:
        preview = None
        if self.previewer is not None:
            preview = self.previewer.decode_latent_to_preview_image("JPEG", x0[:1])
        done = min(self.counter.count - self.start, self.total)
        self.bar.update_absolute(done, self.total, preview)

    def check_cancelled(self) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()

    def candidates_scored(self, done: int, total: int, best_score: float, nfes: int) -> None:
        if self.send_status is not None:
            self.send_status({"done": done, "total": total, "best": best_score, "nfes": nfes})


STATUS_EVENT = "noise_search.status"


def node_status_sender(node_id: str | None) -> StatusSender | None:
    """Sends the search's status for node ``node_id`` to the browser that queued the prompt, when a server runs."""
    from server import PromptServer

    server = getattr(PromptServer, "instance", None)
    if server is None or node_id is None:
        return None
    return lambda status: server.send_sync(STATUS_EVENT, {"node": node_id, **status}, server.client_id)
