"""The small interfaces the search algorithms talk through.

A :class:`Denoiser` runs the diffusion model over any slice of its noise schedule; a :class:`Scorer`
turns latents into one score per row (higher is better); a :class:`SearchMonitor` reports progress
and stops the search on cancel. ComfyUI implements them in ``nodes/``; tests implement them with
plain tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import torch


@dataclass(frozen=True)
class Denoised:
    """The end of a denoising segment.

    ``states``: the latents where the segment stopped (the final samples when it stops at sigma 0),
    in the form the denoiser accepts back as ``states`` and the VAE decodes at sigma 0.
    ``x0``: the model's prediction of the clean latent at the segment's last evaluation, decodable
    like a final latent; scoring it costs no extra network evaluations.
    ``probe``: the x0 prediction at the denoiser's probe noise level, when it has one and the segment
    passed it (the self-supervised verifier compares it with the final sample), else ``None``.
    """

    states: torch.Tensor
    x0: torch.Tensor
    probe: torch.Tensor | None = None


class Denoiser(Protocol):
    """Runs the sampler over slices of a fixed schedule of ``steps`` steps (index 0 = most noise).

    Optional, read with ``getattr``: ``stochastic`` (default False) is True when ``denoise`` draws fresh
    noise from ``sampler_seeds`` (ancestral and SDE samplers), so two copies of a state part ways.
    """

    @property
    def nfes(self) -> int:
        """Network function evaluations so far: one per image row the network has been run on."""
        ...

    @property
    def steps(self) -> int:
        ...

    def initial_noise(self, seed: int) -> torch.Tensor:
        """Standard normal noise shaped like one latent ``[1, ...]``, made from ``seed``."""
        ...

    def denoise(
        self, states: torch.Tensor, sampler_seeds: Sequence[int], start: int = 0, stop: int | None = None,
        initial_noises: torch.Tensor | None = None,
    ) -> Denoised:
        """Run steps ``start`` to ``stop`` (default: the end) on a batch.

        At ``start == 0`` the states are initial noises; otherwise they came from an earlier segment
        that stopped at ``start`` (or were re-noised to it), and ``initial_noises`` (required then) holds
        each row's initial noise, the one its recipe starts from: with a noise mask (inpainting) the
        region outside the mask follows the source image noised with it, as a single sampler run
        would. ``sampler_seeds[i]`` drives row ``i``'s own randomness in ancestral/SDE samplers.
        """
        ...

    def renoise(
        self, states: torch.Tensor, start: int, to: int, noise: torch.Tensor, initial_noises: torch.Tensor
    ) -> torch.Tensor:
        """Move states at schedule index ``start`` back to the noisier index ``to`` with fresh ``noise``.

        With a noise mask, only the masked region takes the fresh noise: outside it each row goes back
        onto the source image's own trajectory, noised with its ``initial_noises`` row.
        """
        ...

    def dry_run_nfes(self, start: int, stop: int) -> int:
        """The NFEs one row costs for steps ``start`` to ``stop``, counted without running the network."""
        ...


class Scorer(Protocol):
    """Scores latents: one float per row, higher is better.

    ``probes``: each row's x0 prediction at the probe noise level, for scorers that compare with it.
    A scorer whose ``combine`` is not None (an ensemble) returns ``[B, V]``, one column per verifier;
    the search then scores every candidate by ``combine`` over all candidates so far, because such
    scores (ranks, z-scores) are relative to the set being compared.

    A scorer that can score only finished samples (one comparing each with its probe) has
    ``scores_previews`` False; algorithms that score x0 predictions mid-sampling refuse it.

    Optional, read with ``getattr``: ``verifier_names`` (one per column, or the verifier's name) names
    the verifier in the error a NaN or inf score raises; ``retain(indices)`` is called after each
    batch with the candidates whose latents the search still holds, for a scorer that keeps
    something per candidate (the gallery's thumbnails) to drop the rest; ``verifier_seconds``, the
    seconds spent in the verifier so far (decoding not included), which the search reports beside its NFEs.
    """

    combine: Callable[[torch.Tensor], torch.Tensor] | None

    def score(self, latents: torch.Tensor, probes: torch.Tensor | None = None) -> torch.Tensor:
        ...


class SearchMonitor(Protocol):
    """Progress reporting and cancellation, called between sampler calls."""

    def check_cancelled(self) -> None:
        """Raise to abandon the search."""
        ...

    def planned(self, total_nfes: int) -> None:
        """The NFEs the search plans to spend, known once it has priced its steps."""
        ...

    def candidates_scored(self, done: int, total: int, best_score: float, nfes: int) -> None:
        ...


class NullMonitor:
    """A monitor that reports nothing and never cancels."""

    def check_cancelled(self) -> None:
        return None

    def planned(self, total_nfes: int) -> None:
        return None

    def candidates_scored(self, done: int, total: int, best_score: float, nfes: int) -> None:
        return None
