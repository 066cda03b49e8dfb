"""Progress, previews and cancel for a search, through ComfyUI's own progress bar and interrupt flag."""

from __future__ import annotations

from typing import Any, Callable

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

    def __init__(self, model: Any, counter: NFECounter, show_text: Callable[[str], None] | None = None) -> None:
        self.counter = counter
        self.start = counter.count
        self.total = 1
        self.bar = comfy.utils.ProgressBar(self.total)
        self.show_text = show_text
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
        if self.show_text is not None:
            self.show_text(f"candidate {done}/{total} · best {best_score:.4g} · {nfes:,} NFEs")


def node_text_sender(node_id: str | None) -> Callable[[str], None] | None:
    """Sends text to a node's progress area in the browser, when a server is running."""
    from server import PromptServer

    server = getattr(PromptServer, "instance", None)
    if server is None or node_id is None:
        return None
    return lambda text: server.send_progress_text(text, node_id)
