"""A picture of the scaling curve: best score so far against NFEs spent, drawn with Pillow."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 512, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 30, 45
BACKGROUND, AXES, LINE, POINT, TEXT = (24, 26, 32), (140, 140, 150), (122, 162, 247), (224, 175, 104), (220, 220, 225)


def plot_scaling_curve(curve: Sequence[tuple[int, float, float]], title: str, plain_image_nfes: int = 0) -> torch.Tensor:
    """``[1, H, W, 3]`` float image of ``(NFEs, best score, verifier seconds)`` points; the x label gives the NFEs
    (also in plain images, if their cost is given) and the verifier's seconds at the end."""
    if not curve:
        raise ValueError("a scaling curve needs at least one point")
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    xs = [float(point[0]) for point in curve]
    ys = [float(point[1]) for point in curve]
    x_low, x_high = 0.0, max(xs) or 1.0
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        return (MARGIN_LEFT + (x - x_low) / (x_high - x_low) * plot_w,
                MARGIN_TOP + (1 - (y - y_low) / (y_high - y_low)) * plot_h)

    draw.line([(MARGIN_LEFT, MARGIN_TOP), (MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM),
               (WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM)], fill=AXES, width=1)
    points = [to_pixel(x, y) for x, y in zip(xs, ys)]
    steps = [points[0]]
    for previous, point in zip(points, points[1:]):
        steps += [(point[0], previous[1]), point]
    if len(steps) > 1:
        draw.line(steps, fill=LINE, width=2)
    for px, py in points:
        draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=POINT)
    draw.text((MARGIN_LEFT, 8), title, fill=TEXT, font=font)
    draw.text((4, MARGIN_TOP - 4), f"{y_high:.4g}", fill=TEXT, font=font)
    draw.text((4, HEIGHT - MARGIN_BOTTOM - 8), f"{y_low:.4g}", fill=TEXT, font=font)
    x_label = f"NFEs (max {int(x_high):,}"
    x_label += f" = {x_high / plain_image_nfes:.1f} plain images)" if plain_image_nfes else ")"
    draw.text((MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM + 12), "0", fill=TEXT, font=font)
    draw.text((MARGIN_LEFT + plot_w // 2 - 60, HEIGHT - MARGIN_BOTTOM + 12), x_label, fill=TEXT, font=font)
    verifier_seconds = float(curve[-1][2])
    if verifier_seconds:
        draw.text((MARGIN_LEFT + plot_w // 2 - 60, HEIGHT - MARGIN_BOTTOM + 26),
                  f"verifier time: {verifier_seconds:.2f} s", fill=TEXT, font=font)
    draw.text((MARGIN_LEFT + 4, MARGIN_TOP + 4), "best score", fill=AXES, font=font)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None]
