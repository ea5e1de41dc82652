"""Pinhole cameras: world -> camera transforms, projection, and look-at placement.

Conventions follow VideoPose3D's ``common/camera.py``: a camera is an orientation ``R`` that
rotates camera axes into the world (given as a quaternion ``w, x, y, z`` for Human3.6M or as a
3x3 matrix for virtual cameras) and a translation ``t``, the camera centre in world metres.
Camera axes are OpenCV's: x right, y down, z forward. All functions broadcast over leading axes.
"""
from __future__ import annotations

import numpy as np


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) as ``w, x, y, z`` -> rotation matrices (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def world_to_camera(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """World points (..., N, 3) -> camera coordinates.

    ``rotation`` is the camera-to-world rotation, a quaternion (..., 4) or a matrix (..., 3, 3);
    ``translation`` (..., 3) is the camera centre. Same as VideoPose3D's ``world_to_camera``.
    """
    matrix = _as_matrix(rotation)
    t = np.asarray(translation, dtype=np.float64)[..., None, :]
    # R^T (X - t) for row vectors is (X - t) @ R.
    return ((np.asarray(points, dtype=np.float64) - t) @ matrix).astype(np.float32)


def _as_matrix(rotation: np.ndarray) -> np.ndarray:
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape[-1] == 4:
        return quaternion_to_matrix(rotation)
    if rotation.shape[-2:] != (3, 3):
        raise ValueError(f"rotation must be quaternions (..., 4) or matrices (..., 3, 3), got {rotation.shape}")
    return rotation


def project(points: np.ndarray, focal: np.ndarray, center: np.ndarray,
            radial: np.ndarray | None = None, tangential: np.ndarray | None = None) -> np.ndarray:
    """Camera points (..., N, 3) -> pixels (..., N, 2) through a pinhole with optional distortion.

    ``focal`` and ``center`` are (..., 2) in pixels; ``radial`` (..., 3) and ``tangential`` (..., 2)
    are Human3.6M's distortion coefficients, applied exactly as VideoPose3D's ``project_to_2d``. Points
    behind the camera are an error, because their projection is meaningless.
    """
    points = np.asarray(points, dtype=np.float64)
    depth = points[..., 2:3]
    if np.any(depth <= 0):
        raise ValueError("cannot project points at or behind the camera plane (z <= 0)")
    xy = points[..., :2] / depth
    if radial is not None or tangential is not None:
        k = np.zeros(3) if radial is None else np.asarray(radial, dtype=np.float64)[..., None, :]
        p = np.zeros(2) if tangential is None else np.asarray(tangential, dtype=np.float64)[..., None, :]
        r2 = (xy ** 2).sum(-1, keepdims=True)
        radial_gain = 1 + k[..., 0:1] * r2 + k[..., 1:2] * r2 ** 2 + k[..., 2:3] * r2 ** 3
        tan_term = (p * xy).sum(-1, keepdims=True)
        xy = xy * (radial_gain + tan_term) + p * r2
    focal = np.asarray(focal, dtype=np.float64)[..., None, :]
    center = np.asarray(center, dtype=np.float64)[..., None, :]
    return (xy * focal + center).astype(np.float32)


def look_at(eye: np.ndarray, target: np.ndarray, roll: np.ndarray | float = 0.0,
            up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world rotation (..., 3, 3) of a camera at ``eye`` looking at ``target``.

    The camera's x axis is horizontal (world ``up`` is Z by default) before ``roll`` (radians,
    about the viewing axis) is applied, so images come out upright.
    """
    forward = np.asarray(target, dtype=np.float64) - np.asarray(eye, dtype=np.float64)
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    if np.any(norm < 1e-6):
        raise ValueError("look_at: viewing direction is parallel to the up axis")
    right /= norm
    down = np.cross(forward, right)
    roll = np.asarray(roll, dtype=np.float64)[..., None]
    right, down = right * np.cos(roll) + down * np.sin(roll), down * np.cos(roll) - right * np.sin(roll)
    return np.stack([right, down, forward], axis=-1)  # columns: camera axes in world coordinates
