"""Resample joint trajectories to a fixed frame rate by linear interpolation in time.

Positions are interpolated linearly. Between two poses of a rigid skeleton this shortens bones
by about ``1 - cos(dtheta / 2)``, which is negligible at capture rates of 100 Hz and more;
sources sampled more coarsely and stored as rotations (DeepMimic) are instead resampled in
rotation space before forward kinematics (see :mod:`.deepmimic`).
"""
from __future__ import annotations

import numpy as np


def sample_times(times: np.ndarray, fps: float) -> np.ndarray:
    """Times every ``1 / fps`` s from ``times[0]``, never past ``times[-1]``."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError(f"need at least 2 strictly increasing frame times, got {len(times)} frames")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    # A small tolerance keeps the last frame when the duration is a whole number of periods.
    count = int(np.floor((times[-1] - times[0]) * fps + 1e-6)) + 1
    return times[0] + np.arange(count) / fps


def resample_times(positions: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """Sample ``positions`` (T, ...) taken at increasing ``times`` (s) at ``fps``."""
    positions = np.asarray(positions, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if len(times) != len(positions):
        raise ValueError(f"{len(positions)} frames but {len(times)} frame times")
    new_times = sample_times(times, fps)
    upper = np.clip(np.searchsorted(times, new_times, side="right"), 1, len(times) - 1)
    lower = upper - 1
    weight = (new_times - times[lower]) / (times[upper] - times[lower])
    weight = weight.reshape((-1,) + (1,) * (positions.ndim - 1))
    return (1 - weight) * positions[lower] + weight * positions[upper]


def resample(positions: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample a trajectory recorded at a constant ``fps_in`` to ``fps_out``."""
    if not fps_in > 0:
        raise ValueError(f"source fps must be positive, got {fps_in}")
    return resample_times(positions, np.arange(len(positions)) / fps_in, fps_out)
