"""Multi-view triangulation of 2D keypoints: weighted DLT, rejection of views that disagree, and
repair of left/right label swaps.

Input per view ``v``: pixels (N, J, 2) and confidences (N, J) in [0, 1] (0 where a view has no
detection), for cameras of :mod:`engines.calibration`. Each (frame, joint) is triangulated by the
direct linear transform, each view's two equations weighted by its confidence. A view whose
reprojection error is above ``max_error_px`` is dropped and the point is triangulated again
from the others, worst view first, while at least two views remain.

A left/right label swap in one view (MediaPipe's typical side-view error) makes that view
disagree with the others. :func:`repair_swaps` tries each view's labels swapped (whole body,
arms only, legs only) and keeps a swap when it lowers that frame's reprojection error clearly.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engines.calibration import Camera


@dataclass
class Triangulation:
    points: np.ndarray  # (N, J, 3) world metres, NaN where fewer than two views agree
    error_px: np.ndarray  # (V, N, J) reprojection error per view, NaN where the view was not used
    used: np.ndarray  # (V, N, J) bool: the view took part in the final estimate


def dlt(normalized: np.ndarray, weights: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """Weighted DLT. ``normalized`` (V, N, J, 2) undistorted image coordinates, ``weights``
    (V, N, J); returns (N, J, 3), NaN where fewer than two views have weight."""
    P = np.stack([np.hstack([c.R, c.t[:, None]]) for c in cameras])  # (V, 3, 4)
    x, y = normalized[..., 0:1], normalized[..., 1:2]
    w = weights[..., None]
    rows = np.concatenate([w * (x * P[:, None, None, 2] - P[:, None, None, 0]),
                           w * (y * P[:, None, None, 2] - P[:, None, None, 1])], axis=0)  # (2V, N, J, 4)
    A = np.moveaxis(rows, 0, -2)  # (N, J, 2V, 4)
    _, _, vt = np.linalg.svd(A)
    h = vt[..., -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = h[..., :3] / h[..., 3:]
    enough = (weights > 0).sum(0) >= 2
    points[~enough] = np.nan
    return points


def reprojection_errors(points: np.ndarray, pixels: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """Pixel distance (V, N, J) between each view's detection and the reprojected points."""
    out = np.full(pixels.shape[:-1], np.nan)
    finite = np.isfinite(points).all(-1)
    for v, cam in enumerate(cameras):
        proj = np.full(points.shape[:-1] + (2,), np.nan)
        proj[finite] = cam.project(points[finite])
        out[v] = np.linalg.norm(proj - pixels[v], axis=-1)
    return out


def triangulate(pixels: np.ndarray, scores: np.ndarray, cameras: Sequence[Camera],
                max_error_px: float = 15.0, min_score: float = 0.3) -> Triangulation:
    """Robust triangulation of (V, N, J, 2) pixels with (V, N, J) scores (see the module doc)."""
    pixels = np.asarray(pixels, dtype=np.float64)
    normalized = np.stack([cam.normalized(pixels[v]) for v, cam in enumerate(cameras)])
    weights = np.where((scores >= min_score) & np.isfinite(pixels).all(-1), scores, 0.0)
    normalized = np.nan_to_num(normalized)
    while True:
        points = dlt(normalized, weights, cameras)
        errors = reprojection_errors(points, pixels, cameras)
        errors[weights == 0] = np.nan
        worst = np.where(np.isnan(errors), -1.0, errors)
        view = worst.argmax(0)
        bad = (worst.max(0) > max_error_px) & ((weights > 0).sum(0) > 2)
        if not bad.any():
            break
        n, j = np.nonzero(bad)
        weights[view[n, j], n, j] = 0.0
    points[(worst.max(0) > max_error_px)] = np.nan  # two views that still disagree
    return Triangulation(points, errors, weights > 0)


def repair_swaps(pixels: np.ndarray, scores: np.ndarray, cameras: Sequence[Camera],
                 swaps: Sequence[np.ndarray], gain: float = 0.7,
                 max_error_px: float = 15.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame and view, the labelling among ``swaps`` (joint permutations; the identity is
    implied) that best agrees with the points triangulated from the other views. A swap is kept
    when it brings the view's median reprojection error in that frame below ``gain`` times the
    unswapped one. Returns the repaired pixels and scores and the chosen swap per (view, frame):
    0 none, k the k-th of ``swaps``."""
    pixels, scores = np.array(pixels, dtype=np.float64), np.array(scores, dtype=np.float64)
    num_views, num_frames = pixels.shape[:2]
    chosen = np.zeros((num_views, num_frames), dtype=np.int64)
    for v in range(num_views):
        others = np.ones(num_views, dtype=bool)
        others[v] = False
        reference = triangulate(pixels[others], scores[others], [c for c, o in zip(cameras, others) if o],
                                max_error_px).points
        projected = np.full(pixels[v].shape, np.nan)
        finite = np.isfinite(reference).all(-1)
        projected[finite] = cameras[v].project(reference[finite])

        def median_error(labels: np.ndarray, sc: np.ndarray) -> np.ndarray:
            error = np.linalg.norm(labels - projected, axis=-1)
            error[sc <= 0] = np.nan
            with np.errstate(all="ignore"):
                return np.nan_to_num(np.nanmedian(error, axis=-1), nan=np.inf)

        best = median_error(pixels[v], scores[v])
        original_px, original_sc = pixels[v].copy(), scores[v].copy()
        for k, perm in enumerate(swaps, start=1):
            error = median_error(original_px[:, perm], original_sc[:, perm])
            better = error < gain * best
            pixels[v][better], scores[v][better] = original_px[better][:, perm], original_sc[better][:, perm]
            best = np.where(better, error, best)
            chosen[v][better] = k
    return pixels, scores, chosen


def fill_gaps(points: np.ndarray, max_gap: int) -> np.ndarray:
    """Points (N, J, 3) with gaps of at most ``max_gap`` frames per joint filled by linear
    interpolation between the frames around them; longer gaps stay NaN."""
    out = points.copy()
    frames = np.arange(len(points))
    for j in range(points.shape[1]):
        known = np.isfinite(points[:, j]).all(-1)
        if known.sum() < 2:
            continue
        gap_start = None
        for i in range(len(points) + 1):
            missing = i < len(points) and not known[i]
            if missing and gap_start is None:
                gap_start = i
            elif not missing and gap_start is not None:
                if 0 < gap_start and i < len(points) and i - gap_start <= max_gap:
                    for k in range(3):
                        out[gap_start:i, j, k] = np.interp(frames[gap_start:i], frames[known], points[known, j, k])
                gap_start = None
    return out


def low_pass(points: np.ndarray, fps: float, cutoff_hz: float = 6.0, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass of points (N, J, 3) over time (Pose2Sim's default filter,
    6 Hz), per joint over each run of finite frames; runs too short to filter are kept."""
    from scipy.signal import butter, filtfilt

    b, a = butter(order // 2, cutoff_hz / (fps / 2))  # filtfilt runs it twice: order 4 in all
    out = points.copy()
    pad = 3 * max(len(a), len(b))
    for j in range(points.shape[1]):
        finite = np.isfinite(points[:, j]).all(-1)
        edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(int), 0]))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start > pad:
                out[start:stop, j] = filtfilt(b, a, points[start:stop, j], axis=0)
    return out
