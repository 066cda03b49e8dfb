"""A contact sheet of search candidates: tiles best first, each labelled with rank, seed and score."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

LABEL_HEIGHT = 26
WINNER_COLOUR = (230, 160, 0)


def candidate_grid(
    images: torch.Tensor, seeds: Sequence[int], scores: Sequence[float], scale: int = 6, columns: int = 8
) -> Image.Image:
    """``images``: IMAGE ``[N, H, W, C]`` in 0..1, already ranked; the first tile (the winner) is framed."""
    count, height, width = images.shape[:3]
    tile_w, tile_h = width * scale, height * scale
    rows = -(-count // columns)
    sheet = Image.new("RGB", (columns * (tile_w + 8), rows * (tile_h + LABEL_HEIGHT + 8)), "white")
    draw = ImageDraw.Draw(sheet)
    for rank, (image, seed, score) in enumerate(zip(images, seeds, scores)):
        tile = enlarged(image, scale)
        x = (rank % columns) * (tile_w + 8) + 4
        y = (rank // columns) * (tile_h + LABEL_HEIGHT + 8) + 4
        sheet.paste(tile, (x, y))
        if rank == 0:
            draw.rectangle((x - 3, y - 3, x + tile_w + 2, y + tile_h + 2), outline=WINNER_COLOUR, width=3)
        draw.text((x, y + tile_h + 3), f"#{rank + 1} seed {seed}", fill=(0, 0, 0))
        draw.text((x, y + tile_h + 14), f"score {score:.3f}", fill=(0, 0, 0))
    return sheet


def enlarged(image: torch.Tensor, scale: int = 8) -> Image.Image:
    """One IMAGE ``[H, W, C]`` enlarged without smoothing, so a 16×16 sample can be seen."""
    pixels = (image.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(pixels).resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
