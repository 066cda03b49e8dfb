"""The candidate gallery the web extension draws on the search node: thumbnails, scores, seeds, curve.

Thumbnails are written to ComfyUI's temp folder (served by its own ``/view`` route) and described in
the node's UI output under ``noise_search``, next to the usual ``text``.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import numpy as np
import torch
from PIL import Image

import folder_paths

from ..search import SearchResult

THUMBNAIL_SIZE = 512
GALLERY_LIMIT = 64
SUBFOLDER = "noise_search"


class ThumbnailRecorder:
    """Keeps a copy (at most 512 px) of every decoded candidate image, in the order the search scored them.

    The search scores each batch exactly once, in candidate order, so thumbnail ``i`` is candidate ``i``.
    """

    def __init__(self) -> None:
        self.thumbnails: list[Image.Image] = []

    def __call__(self, images: torch.Tensor) -> None:
        for image in images:
            pixels = (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
            thumbnail = Image.fromarray(np.ascontiguousarray(pixels))
            thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            self.thumbnails.append(thumbnail)


def gallery_ui(result: SearchResult, recorder: ThumbnailRecorder) -> dict[str, Any]:
    """The ``noise_search`` UI entry: the best finished candidates first, each with its thumbnail file."""
    directory = os.path.join(folder_paths.get_temp_directory(), SUBFOLDER)
    os.makedirs(directory, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    entries = []
    for rank, candidate in enumerate(result.ranked[:GALLERY_LIMIT], start=1):
        filename = f"{run_id}_{candidate.index:04d}.jpg"
        recorder.thumbnails[candidate.index].save(os.path.join(directory, filename), quality=90)
        entries.append({
            "filename": filename, "subfolder": SUBFOLDER, "type": "temp", "rank": rank, "index": candidate.index,
            "seed": str(candidate.seed), "score": candidate.score, "nfes": candidate.nfes,
        })
    return {
        "algorithm": result.algorithm,
        "best_index": result.best.index,
        "candidates": entries,
        "finished_candidates": len(result.ranked),
        "curve": [list(point) for point in result.curve],
        "nfes": {"search": result.search_nfes, "render": result.render_nfes, "plain_image": result.plain_image_nfes},
    }
