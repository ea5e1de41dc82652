"""Rotate Y-up capture data into the project's world frame (metres, Z up)."""
from __future__ import annotations

import numpy as np

# A proper rotation (+90 degrees about X: x, y, z -> x, -z, y), so handedness and therefore
# left/right are preserved; only the up axis changes.
_TO_Z_UP = {
    "z": np.eye(3),
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
}


def to_z_up(points: np.ndarray, up_axis: str) -> np.ndarray:
    """Points (..., 3) in a right-handed frame whose up axis is ``up_axis`` -> Z up."""
    if up_axis not in _TO_Z_UP:
        raise ValueError(f"up_axis must be one of {sorted(_TO_Z_UP)}, got {up_axis!r}")
    return np.asarray(points, dtype=np.float64) @ _TO_Z_UP[up_axis].T
