"""The record every mocap source and user loader returns."""
from __future__ import annotations

import fnmatch
from collections.abc import Sequence
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


def split_holdout(clips: Sequence[Clip], patterns: Sequence[str]) -> tuple[list[Clip], list[Clip]]:
    """(training clips, held-out clips): a clip is held out when its name matches a glob pattern."""
    held = [c for c in clips if any(fnmatch.fnmatch(c.name, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatch(c.name, p) for c in clips)]
    if unmatched:
        raise ValueError(f"holdout pattern(s) {unmatched} match no clip")
    held_ids = {id(c) for c in held}
    return [c for c in clips if id(c) not in held_ids], held
