"""Where the root (pelvis) is in the camera, from the 2D pose, the root-relative 3D pose and a focal.

The lifter predicts shape in metres but not position. With a pinhole camera (focal ``f`` pixels,
principal point at the image centre) the translation ``t`` that makes the 3D joints ``X_j + t``
project onto the 2D joints ``(u_j, v_j)`` solves, after multiplying out the perspective division,
a linear least-squares problem with two rows per joint::

    f*tx - (u_j - cx)*tz = (u_j - cx)*Z_j - f*X_j
    f*ty - (v_j - cy)*tz = (v_j - cy)*Z_j - f*Y_j

Rows are weighted by the joint's 2D confidence. This is the usual closed-form camera translation
used to place root-relative lifters in the scene.
"""
from __future__ import annotations

import math

import numpy as np


def focal_from_fov(width: int, hfov_deg: float) -> float:
    """Focal length in pixels of a camera ``width`` pixels wide with horizontal field of view."""
    return width / 2 / math.tan(math.radians(hfov_deg) / 2)


def estimate_root(pose3d: np.ndarray, pose2d_px: np.ndarray, focal_px: float,
                  image_size: tuple[int, int], weights: np.ndarray | None = None) -> np.ndarray | None:
    """Camera-space translation (3,) in metres of a root-relative pose, or None if it lands behind
    the camera (too few confident joints or a 3D pose that does not fit the 2D one)."""
    x, y, z = (pose3d[:, i].astype(np.float64) for i in range(3))
    cx, cy = image_size[0] / 2, image_size[1] / 2
    du, dv = pose2d_px[:, 0] - cx, pose2d_px[:, 1] - cy
    n = len(x)
    a = np.zeros((2 * n, 3))
    a[:n, 0] = focal_px
    a[n:, 1] = focal_px
    a[:n, 2], a[n:, 2] = -du, -dv
    b = np.concatenate([du * z - focal_px * x, dv * z - focal_px * y])
    w = np.sqrt(np.tile(np.ones(n) if weights is None else np.clip(weights, 0, None), 2))
    t, *_ = np.linalg.lstsq(a * w[:, None], b * w, rcond=None)
    return t.astype(np.float32) if t[2] > 0 else None
