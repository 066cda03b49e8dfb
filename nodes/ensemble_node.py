"""The ensemble node: several verifiers combined by rank averaging (the paper's) or weighted z-scores."""

from __future__ import annotations

import torch

from comfy_api.latest import io

from ..verifiers.ensemble import METHODS, RANK_AVERAGE, checked_weights, combiner
from ..verifiers.video_frames import FramePick
from .comfy_scoring import ALL_FRAMES, ManagedVerifier
from .comfy_types import CATEGORY, VerifierSocket
from .node_errors import NodeInputError

DISPLAY_NAME = "Verifier Ensemble (Noise Search)"
MAX_MEMBERS = 6
"""A real graph combines up to six: a VLM judge, PickScore, HPS, aesthetic, ImageReward and CLIP score."""


class ManagedEnsemble:
    """Scores with every member: ``[B, V]``. ``combine`` turns a set's columns into one score per image."""

    def __init__(self, members: list[ManagedVerifier], weights: list[float], method: str) -> None:
        probe_levels = {m.probe_level for m in members if m.probe_level is not None}
        if len(probe_levels) > 1:
            raise NodeInputError(f"{DISPLAY_NAME}: self-supervised members must share one probe_level, got {probe_levels}")
        self.members = members
        self.weights = weights
        self.method = method
        self.combine = combiner(method, weights)
        self.probe_level = probe_levels.pop() if probe_levels else None

    @property
    def name(self) -> str:
        return f"ensemble ({self.method}: {', '.join(m.name for m in self.members)})"

    @property
    def verifier_names(self) -> list[str]:
        """The members' names, one per column of ``score``'s output."""
        return [m.name for m in self.members]

    @property
    def needs_condition(self) -> bool:
        return any(m.needs_condition for m in self.members)

    def score(
        self, images: torch.Tensor, condition: str | None, probes: torch.Tensor | None = None, frames: FramePick = ALL_FRAMES,
    ) -> torch.Tensor:
        """``frames``: the picked frames of videos, for members that do not pick their own."""
        return torch.stack([
            m.score(images, condition if m.needs_condition else None, probes if m.probe_level is not None else None, frames)
            for m in self.members
        ], dim=1)


class VerifierEnsemble(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NoiseSearchVerifierEnsemble",
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description="Combines verifiers whose scores live on different scales: each candidate's rank (or "
            "z-score) under each verifier, over all candidates of the search, averaged with the weights.",
            inputs=[
                *(VerifierSocket.Input(f"verifier_{i}", optional=i > 2) for i in range(1, MAX_MEMBERS + 1)),
                io.Combo.Input("method", options=list(METHODS), default=RANK_AVERAGE,
                               tooltip="rank average: the paper's method. weighted z-score: also uses how far apart "
                               "the scores are."),
                io.String.Input("weights", default=", ".join(["1"] * MAX_MEMBERS),
                                tooltip="One finite, non-negative weight per connected verifier, in order (extra ones ignored)."),
            ],
            outputs=[VerifierSocket.Output(display_name="verifier")],
        )

    @classmethod
    def execute(cls, method: str, weights: str, **verifiers: ManagedVerifier | None) -> io.NodeOutput:
        members = [verifiers[f"verifier_{i}"] for i in range(1, MAX_MEMBERS + 1) if verifiers.get(f"verifier_{i}") is not None]
        try:
            values = [float(w) for w in weights.replace(";", ",").split(",") if w.strip()][: len(members)]
            checked_weights(values, len(members))
        except ValueError as error:
            raise NodeInputError(
                f"{DISPLAY_NAME}: weights '{weights}' must be {len(members)} finite, non-negative numbers, "
                "comma-separated, not all zero (e.g. 1, 1)"
            ) from error
        return io.NodeOutput(ManagedEnsemble(members, values, method))
