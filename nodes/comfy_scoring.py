"""Verifiers under ComfyUI's model management, and the search's :class:`Scorer` over VAE + verifier."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

import comfy.model_management
import comfy.model_patcher

from ..verifiers import Verifier, VerifierConditionError
from ..verifiers.video_frames import FramePick, frame_strip

ALL_FRAMES = FramePick()
"""Without a Video Frames node a video is scored on all its frames, by their mean."""


class ManagedVerifier:
    """A verifier whose weights ComfyUI loads onto its device and offloads when memory is needed.

    In fp16 where ComfyUI would run a model of its own in fp16 on that device, else fp32; a verifier its loader
    built in a half dtype (the VLM judge, in bf16 where the device has it) keeps that dtype.
    """

    def __init__(self, verifier: Verifier, patcher: comfy.model_patcher.ModelPatcher | None = None) -> None:
        """``patcher``: the one already managing ``verifier.module`` (a verifier built per prompt around cached weights)."""
        self.verifier = verifier
        if patcher is not None:
            self.patcher = patcher
            return
        load_device = comfy.model_management.get_torch_device()
        if comfy.model_management.should_use_fp16(load_device) and next(verifier.module.parameters()).dtype == torch.float32:
            verifier.module.half()
        self.patcher = comfy.model_patcher.ModelPatcher(
            verifier.module, load_device=load_device, offload_device=comfy.model_management.unet_offload_device(),
        )

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def needs_condition(self) -> bool:
        return self.verifier.needs_condition

    @property
    def probe_level(self) -> float | None:
        """The noise level of the x0 prediction this verifier compares with (self-supervised), else None."""
        return getattr(self.verifier, "probe_level", None)

    @property
    def scores_videos(self) -> bool:
        return getattr(self.verifier, "scores_videos", False)

    def score(
        self, images: torch.Tensor, condition: str | None, probes: torch.Tensor | None = None, frames: FramePick = ALL_FRAMES,
    ) -> torch.Tensor:
        """Images ``[B, H, W, C]``, or videos ``[B, T, H, W, C]`` scored on ``frames``'s picked frames: a video
        verifier sees them as videos, an image verifier scores each frame and ``frames`` combines them per video."""
        comfy.model_management.load_models_gpu([self.patcher], force_full_load=True)
        if images.ndim == 5:
            videos = frames.pick(images)
            if self.scores_videos:
                return self.verifier.score(videos.to(self.patcher.load_device), condition)
            count, picked = videos.shape[:2]
            flat = videos.reshape(count * picked, *videos.shape[2:])
            flat_probes = None if probes is None else frames.pick(probes).reshape(flat.shape)
            return frames.combine(self._score_images(flat, condition, flat_probes).reshape(count, picked))
        if self.scores_videos:
            raise VerifierConditionError(
                f"the {self.name} verifier scores videos, and this search makes images; use it on a video model's latents"
            )
        return self._score_images(images, condition, probes)

    def _score_images(self, images: torch.Tensor, condition: str | None, probes: torch.Tensor | None) -> torch.Tensor:
        images = images.to(self.patcher.load_device)
        if self.probe_level is None:
            return self.verifier.score(images, condition)
        return self.verifier.score(images, condition, None if probes is None else probes.to(images.device))


class DecodeAndScore:
    """Decodes latents with the VAE, then scores the images; run between sampler calls, never inside one.

    With an ensemble it returns one column per verifier and passes the ensemble's ``combine`` on.
    A video VAE's output ``[B, T, H, W, C]`` goes to the verifier as videos (see ``ManagedVerifier.score``).
    ``on_decoded`` gets each batch's images (for a video, a strip of its picked frames), one per latent, in
    candidate order; ``on_retained`` gets the indices of the candidates the search still holds after each batch.
    ``verifier_seconds`` adds up the time in the verifier (loading it included, decoding not), until the
    scores are on the CPU, so that asynchronous device work is counted.
    """

    def __init__(
        self, vae: Any, verifier: ManagedVerifier, condition: str | None,
        on_decoded: Callable[[torch.Tensor], None] | None = None,
        on_retained: Callable[[frozenset[int]], None] | None = None,
    ) -> None:
        self.vae = vae
        self.verifier = verifier
        self.condition = condition
        self.on_decoded = on_decoded
        self.on_retained = on_retained
        self.combine = getattr(verifier, "combine", None)
        self.verifier_names = getattr(verifier, "verifier_names", [verifier.name])
        self.verifier_seconds = 0.0

    def retain(self, held: frozenset[int]) -> None:
        if self.on_retained is not None:
            self.on_retained(held)

    @property
    def scores_previews(self) -> bool:
        """Whether x0 predictions mid-sampling can be scored: not by a verifier that compares finished samples with probes."""
        return self.verifier.probe_level is None

    def score(self, latents: torch.Tensor, probes: torch.Tensor | None = None) -> torch.Tensor:
        images = self.vae.decode(latents)
        if self.on_decoded is not None:
            self.on_decoded(images if images.ndim == 4 else self.frame_strips(images))
        probe_images = self.vae.decode(probes) if probes is not None and self.verifier.probe_level is not None else None
        started = time.perf_counter()
        scores = self.verifier.score(images, self.condition, probe_images).cpu()
        self.verifier_seconds += time.perf_counter() - started
        return scores

    def frame_strips(self, videos: torch.Tensor) -> torch.Tensor:
        """One thumbnail per video: a strip of its picked frames (up to four, evenly spaced), in candidate order."""
        picked = getattr(self.verifier, "frame_pick", ALL_FRAMES).pick(videos)
        return torch.stack([frame_strip(video) for video in picked])
