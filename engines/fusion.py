"""Fusing the lifter's 3D with MediaPipe's own world landmarks.

BlazePose hands out a metric 3D pose per frame for free (``pose_world_landmarks``): less smooth
than the lifter's but with errors of its own kind, so the two average out. Per frame the world
landmarks (mapped to H36M-17) are rotated onto the lifter's pose (Kabsch, about their
centroids: both are metric, so no scale), then each joint is the weighted mean of the two, and
the pelvis is put back at the origin. The result is in the lifter's frame (camera axes). A frame
without world landmarks (NaN or all zeros) keeps the lifter's pose.

The weight of the lifter per joint comes from measured errors (inverse-variance weighting,
``w = e_world^2 / (e_lifter^2 + e_world^2)``); :data:`LIFTER_WEIGHT` is the default.
"""
from __future__ import annotations

import numpy as np

from engines.metrics import procrustes_align
from engines.skeleton import NUM_JOINTS, mediapipe_to_h36m

# One weight for every joint: fitted per joint on one capture it did not beat this (see
# docs/model-card.md, real-video evaluation).
LIFTER_WEIGHT = np.full(NUM_JOINTS, 0.5, dtype=np.float32)


def world_to_h36m(world: np.ndarray) -> np.ndarray:
    """MediaPipe world landmarks (..., 33, 3) -> H36M-17 (..., 17, 3), pelvis at the origin."""
    joints = mediapipe_to_h36m(world)
    return joints - joints[..., :1, :]


def fuse_world(lifted: np.ndarray, world17: np.ndarray | None,
               lifter_weight: np.ndarray = LIFTER_WEIGHT) -> np.ndarray:
    """Lifter poses (N, 17, 3) fused with world landmarks mapped to H36M-17 (N, 17, 3), where a
    frame's world landmarks are finite; see the module doc."""
    out = np.array(lifted, dtype=np.float32, copy=True)
    if world17 is None:
        return out
    ok = np.isfinite(world17).all((-1, -2)) & np.isfinite(lifted).all((-1, -2))
    ok &= np.nan_to_num(np.abs(world17)).max((-1, -2)) > 1e-6  # all zeros: no landmarks either
    if not ok.any():
        return out
    aligned = procrustes_align(np.asarray(world17)[ok], out[ok], scale=False)
    w = np.asarray(lifter_weight, dtype=np.float64)[:, None]
    fused = w * out[ok] + (1 - w) * aligned
    out[ok] = fused - fused[:, :1]
    return out
