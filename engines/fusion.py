"""Fusing the lifter's 3D with MediaPipe's own world landmarks.

BlazePose hands out a metric 3D pose per frame for free (``pose_world_landmarks``): jittery, but
with errors of another kind than the lifter's, so the two average out. Per frame the world
landmarks (mapped to H36M-17) are rotated onto the lifter's pose (Kabsch, about their centroids:
both are metric, so no scale); their difference from the lifter's pose is the *correction*.
The fused pose is the lifter's plus ``1 - w`` times the correction, then the pelvis is put back
at the origin: with the correction as measured, that is the weighted mean of the two poses.

The correction is smoothed first by a causal exponential filter with time constant
``tau_s``: the lifter's pose carries the motion and MediaPipe's frame-to-frame jitter averages
out, while what the two disagree on for longer (a leg's depth) still moves the output. On real
video this cuts the fused output's acceleration error by 40 % and its P-MPJPE a little
(docs/model-card.md). ``tau_s = 0`` is the plain per-frame mean.

A frame without world landmarks (NaN or all zeros) keeps the last correction, and the lifter's
pose where there has been none yet. The result is in the lifter's frame (camera axes).
"""
from __future__ import annotations

import numpy as np

from engines.metrics import procrustes_align
from engines.skeleton import NUM_JOINTS, mediapipe_to_h36m

# One weight for every joint: fitted per joint on one capture it did not beat this (see
# docs/model-card.md, real-video evaluation).
LIFTER_WEIGHT = np.full(NUM_JOINTS, 0.5, dtype=np.float32)
TAU_S = 0.033  # the correction's time constant (two frames at 60 fps; docs/model-card.md)


def world_to_h36m(world: np.ndarray) -> np.ndarray:
    """MediaPipe world landmarks (..., 33, 3) -> H36M-17 (..., 17, 3), pelvis at the origin."""
    joints = mediapipe_to_h36m(world)
    return joints - joints[..., :1, :]


def corrections(lifted: np.ndarray, world17: np.ndarray) -> np.ndarray:
    """Per frame (N, 17, 3): the world landmarks rotated onto the lifter's pose, less the lifter's
    pose; NaN where a frame has no world landmarks."""
    lifted, world17 = np.asarray(lifted, dtype=np.float64), np.asarray(world17, dtype=np.float64)
    ok = np.isfinite(world17).all((-1, -2)) & np.isfinite(lifted).all((-1, -2))
    ok &= np.nan_to_num(np.abs(world17)).max((-1, -2)) > 1e-6  # all zeros: no landmarks either
    out = np.full(lifted.shape, np.nan)
    if ok.any():
        out[ok] = procrustes_align(world17[ok], lifted[ok], scale=False) - lifted[ok]
    return out


class WorldFusion:
    """One person's fusion over time: the smoothed correction and when it was last updated. A new
    person or a gap in the source gets a new one."""

    def __init__(self, lifter_weight: np.ndarray = LIFTER_WEIGHT, tau_s: float = TAU_S) -> None:
        if tau_s < 0:
            raise ValueError(f"tau_s must be >= 0, got {tau_s}")
        self.world_weight = 1 - np.asarray(lifter_weight, dtype=np.float64)[:, None]
        self.tau_s = tau_s
        self.correction: np.ndarray | None = None
        self.t_s: float | None = None

    def __call__(self, lifted: np.ndarray, correction: np.ndarray, t_s: float) -> np.ndarray:
        """The fused pose (17, 3) of one frame at time ``t_s``, from the lifter's pose and that
        frame's :func:`corrections` row."""
        if np.isfinite(correction).all():
            if self.correction is None or self.tau_s == 0:
                self.correction = correction
            else:
                keep = np.exp(-max(t_s - self.t_s, 0.0) / self.tau_s)
                self.correction = keep * self.correction + (1 - keep) * correction
            self.t_s = t_s
        if self.correction is None:
            return np.array(lifted, dtype=np.float32)
        fused = lifted + self.world_weight * self.correction
        return (fused - fused[:1]).astype(np.float32)


def fuse_world(lifted: np.ndarray, world17: np.ndarray | None, fps: float,
               lifter_weight: np.ndarray = LIFTER_WEIGHT, tau_s: float = TAU_S) -> np.ndarray:
    """One person's lifted poses (N, 17, 3), in time order at ``fps``, fused with their world
    landmarks mapped to H36M-17 (N, 17, 3), as the live pipeline fuses them; see the module doc."""
    out = np.array(lifted, dtype=np.float32, copy=True)
    if world17 is None:
        return out
    fusion = WorldFusion(lifter_weight, tau_s)
    for i, correction in enumerate(corrections(lifted, world17)):
        out[i] = fusion(lifted[i], correction, i / fps)
    return out
