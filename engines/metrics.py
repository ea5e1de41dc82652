"""Pose-error metrics of the 3D pose literature, in numpy, on poses (..., J, 3).

* MPJPE (protocol 1): mean Euclidean joint error after root alignment (inputs root-relative).
* P-MPJPE (protocol 2): MPJPE after a similarity Procrustes alignment (rotation, translation and
  scale) per pose, as in VideoPose3D's ``p_mpjpe``.
* N-MPJPE: MPJPE after the least-squares scale alone (VideoPose3D's ``n_mpjpe``).
* MPJVE: mean error of the per-frame velocities; acceleration error: of the second differences.
  Both take sequences with time on axis -3 and are per frame, not per second.
"""
from __future__ import annotations

import numpy as np


def _check(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.shape[-1] != 3:
        raise ValueError(f"poses must have equal shapes (..., J, 3); got {pred.shape} and {target.shape}")
    return pred, target


def mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    pred, target = _check(pred, target)
    return float(np.linalg.norm(pred - target, axis=-1).mean())


def procrustes_align(pred: np.ndarray, target: np.ndarray, scale: bool = True) -> np.ndarray:
    """``pred`` moved onto ``target`` by the best rotation, translation and (unless ``scale`` is
    False: both poses are metric) scale, per pose."""
    pred, target = _check(pred, target)
    mu_p, mu_t = pred.mean(-2, keepdims=True), target.mean(-2, keepdims=True)
    p, t = pred - mu_p, target - mu_t
    norm_p = np.linalg.norm(p, axis=(-2, -1), keepdims=True)
    norm_t = np.linalg.norm(t, axis=(-2, -1), keepdims=True)
    p, t = p / norm_p, t / norm_t
    u, s, vt = np.linalg.svd(np.swapaxes(t, -1, -2) @ p)
    v = np.swapaxes(vt, -1, -2)
    rot = v @ np.swapaxes(u, -1, -2)
    # A reflection is not a rotation: flip the last singular direction where det(R) < 0.
    sign = np.sign(np.linalg.det(rot))
    v[..., -1] *= sign[..., None]
    s[..., -1] *= sign
    rot = v @ np.swapaxes(u, -1, -2)
    factor = s.sum(-1)[..., None, None] * norm_t / norm_p if scale else 1.0
    return factor * (pred - mu_p) @ rot + mu_t


def p_mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    return mpjpe(procrustes_align(pred, target), target)


def n_mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    pred, target = _check(pred, target)
    scale = (pred * target).sum(axis=(-2, -1), keepdims=True) / (pred * pred).sum(axis=(-2, -1), keepdims=True)
    return mpjpe(scale * pred, target)


def mpjve(pred: np.ndarray, target: np.ndarray) -> float:
    pred, target = _check(pred, target)
    return float(np.linalg.norm(np.diff(pred, axis=-3) - np.diff(target, axis=-3), axis=-1).mean())


def acceleration_error(pred: np.ndarray, target: np.ndarray) -> float:
    pred, target = _check(pred, target)
    return float(np.linalg.norm(np.diff(pred, 2, axis=-3) - np.diff(target, 2, axis=-3), axis=-1).mean())
