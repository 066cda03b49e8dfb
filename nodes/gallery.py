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
from ..search.tracking import HELD_CANDIDATES

THUMBNAIL_SIZE = 512
GALLERY_LIMIT = HELD_CANDIDATES
SUBFOLDER = "noise_search"


class ThumbnailRecorder:
    """Thumbnails (at most 512 px) of the candidates the search holds: ``GALLERY_LIMIT`` between batches.

    The search scores each batch exactly once, in candidate order, so the ``i``-th image recorded is
    candidate ``i``; after each batch the search names the candidates it still holds (its best
    finished ones) and the others' thumbnails are dropped.
    """

    def __init__(self) -> None:
        self.thumbnails: dict[int, Image.Image] = {}
        self.recorded = 0

    def __call__(self, images: torch.Tensor) -> None:
        for image in images:
            pixels = (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
            thumbnail = Image.fromarray(np.ascontiguousarray(pixels))
            thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            self.thumbnails[self.recorded] = thumbnail
            self.recorded += 1

    def retain(self, held: frozenset[int]) -> None:
        self.thumbnails = {index: thumbnail for index, thumbnail in self.thumbnails.items() if index in held}


def gallery_ui(result: SearchResult, recorder: ThumbnailRecorder) -> dict[str, Any]:
    """The ``noise_search`` UI entry: the best finished candidates first, each with its thumbnail file.

    ``rank`` is the candidate's place among all finished candidates. With an ensemble, whose scores
    move as candidates arrive, a candidate dropped from the held best early can climb back by the
    end; it has no thumbnail, so its rank is missing from the entries.
    """
    directory = os.path.join(folder_paths.get_temp_directory(), SUBFOLDER)
    os.makedirs(directory, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    entries = []
    for rank, candidate in enumerate(result.ranked, start=1):
        thumbnail = recorder.thumbnails.get(candidate.index)
        if thumbnail is None:
            continue
        filename = f"{run_id}_{candidate.index:04d}.jpg"
        thumbnail.save(os.path.join(directory, filename), quality=90)
        entries.append({
            "filename": filename, "subfolder": SUBFOLDER, "type": "temp", "rank": rank, "index": candidate.index,
            "seed": str(candidate.seed), "score": candidate.score, "nfes": candidate.nfes,
        })
        if len(entries) == GALLERY_LIMIT:
            break
    return {
        "algorithm": result.algorithm,
        "best_index": result.best.index,
        "candidates": entries,
        "finished_candidates": len(result.ranked),
        "curve": [list(point) for point in result.curve],
        "nfes": {"search": result.search_nfes, "render": result.render_nfes, "plain_image": result.plain_image_nfes},
        "verifier_seconds": result.verifier_seconds,
    }
