"""The engine interface shared by all backends: a lifter that maps 2D windows to one 3D pose each.

The live pipeline only knows this class: ``window`` (frames per window), ``lookahead`` (how many
frames after the target frame each window holds), ``backend``, ``describe()`` and ``run()``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path

import numpy as np

from engines.hot import HoTConfig
from engines.presets import PRESETS


class Engine(ABC):
    backend: str = ""

    def __init__(self, config: HoTConfig, lookahead: int, weights: Path | None, weights_sha256: str | None):
        self.config = config
        self.window = config.num_frames
        self.lookahead = lookahead
        self.target = config.target_index(lookahead)  # validates lookahead
        self.weights = weights
        self.weights_sha256 = weights_sha256

    def describe(self) -> dict:
        """What is running, for logs and for the stream's metadata message."""
        return {
            "model": "hot" if self.config.prune else "mixste",
            "preset": preset_name(self.config),
            "config": self.config.to_dict(),
            "T": self.window,
            "lookahead": self.lookahead,
            "target_index": self.target,
            "backend": self.backend,
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
        return self._run(x)

    def targets(self, batch: int) -> np.ndarray:
        return np.full((batch,), self.target, dtype=np.int64)

    @abstractmethod
    def _run(self, windows: np.ndarray) -> np.ndarray:
        """Backend-specific inference on validated, contiguous float32 windows."""


def preset_name(config: HoTConfig) -> str | None:
    """The preset this architecture is (training-only settings such as drop_path aside), if any."""
    return next((name for name, preset in PRESETS.items()
                 if replace(config, drop_path=preset.drop_path) == preset), None)
