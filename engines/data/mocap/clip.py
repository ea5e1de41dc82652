"""The record every mocap source and user loader returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.skeleton import NUM_JOINTS


@dataclass
class Clip:
    """One motion clip as Human3.6M-17 joint positions in metres, world Z up.

    ``meta`` carries per-clip facts worth recording in the cache manifest (for example how many
    marker samples were gap-filled), so nothing done to the data goes unreported.
    """

    source: str
    clip: str
    positions: np.ndarray  # (T, 17, 3) float32
    fps: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float32)
        if self.positions.ndim != 3 or self.positions.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"clip {self.name}: positions must be (T, {NUM_JOINTS}, 3), "
                             f"got {self.positions.shape}")
        if not self.fps > 0:
            raise ValueError(f"clip {self.name}: fps must be positive, got {self.fps}")
        self.fps = float(self.fps)

    @property
    def name(self) -> str:
        return f"{self.source}__{self.clip}"

    @property
    def duration(self) -> float:
        return len(self.positions) / self.fps
