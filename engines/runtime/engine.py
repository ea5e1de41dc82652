"""The engine interface shared by all backends: a lifter that maps 2D windows to one 3D pose each.

The live pipeline only knows this class: ``window`` (frames per window), ``lookahead`` (how many
frames after the target frame each window holds), ``backend``, ``describe()`` and ``run()``.

A backend runs whole windows (``_run``). A backend that can also run the network in two halves
(``_encode_frames`` and ``_run_tokens``) gets a :class:`FrameTokenCache`, so overlapping windows
encode each frame once; the output is the same up to float rounding.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from engines.models import arch_of, preset_name
from engines.skeleton import mirror
from engines.runtime.frame_cache import FrameTokenCache


class Engine(ABC):
    backend: str = ""

    def __init__(self, config, lookahead: int, weights: Path | None, weights_sha256: str | None):
        """``config``: any registered architecture's config (:mod:`engines.models`)."""
        self.config = config
        self.window = config.num_frames
        self.lookahead = lookahead
        self.target = config.target_index(lookahead)  # validates lookahead
        self.weights = weights
        self.weights_sha256 = weights_sha256
        self.frame_cache: FrameTokenCache | None = None
        self.flip = False  # flip test-time augmentation: also lift the mirrored windows, average

    def use_frame_cache(self) -> None:
        """Run windows as cached frame tokens + the rest of the network (see the module docstring)."""
        self.frame_cache = FrameTokenCache(self._encode_frames)

    def describe(self) -> dict:
        """What is running, for logs and for the stream's metadata message."""
        return {
            "model": arch_of(self.config),
            "preset": preset_name(self.config),
            "config": self.config.to_dict(),
            "T": self.window,
            "lookahead": self.lookahead,
            "target_index": self.target,
            "backend": self.backend,
            "frame_cache": self.frame_cache is not None,
            "flip": self.flip,
            "weights": str(self.weights) if self.weights else None,
            "weights_sha256": self.weights_sha256,
            **self._describe_backend(),
        }

    def _describe_backend(self) -> dict:
        return {}

    def run(self, windows: np.ndarray) -> np.ndarray:
        """float32 (B, T, 17, 2) normalised screen coordinates -> float32 (B, 17, 3) metres."""
        x = np.ascontiguousarray(windows, dtype=np.float32)
        expected = (self.window, self.config.num_joints, 2)
        if x.ndim != 4 or x.shape[1:] != expected or x.shape[0] < 1:
            raise ValueError(f"windows must have shape (B, {', '.join(map(str, expected))}), got {x.shape}")
        if not self.flip:
            return self._lift(x)
        both = self._lift(np.concatenate([x, mirror(x)]))
        return (both[:len(x)] + mirror(both[len(x):])) / 2

    def _lift(self, windows: np.ndarray) -> np.ndarray:
        if self.frame_cache is None:
            return self._run(windows)
        return self._run_tokens(self.frame_cache(windows))

    def targets(self, batch: int) -> np.ndarray:
        return np.full((batch,), self.target, dtype=np.int64)

    @abstractmethod
    def _run(self, windows: np.ndarray) -> np.ndarray:
        """Backend-specific inference on validated, contiguous float32 windows."""

    def _encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """float32 frames (N, 17, 2) -> frame tokens (N, 17, C); backends with a frame cache only."""
        raise NotImplementedError(f"the {self.backend} backend has no frame cache")

    def _run_tokens(self, frame_tokens: np.ndarray) -> np.ndarray:
        """float32 frame tokens (B, T, 17, C) -> (B, 17, 3); backends with a frame cache only."""
        raise NotImplementedError(f"the {self.backend} backend has no frame cache")

