"""Fill occlusion gaps in optical marker trajectories before joint centres are computed.

Vicon-style rigid-body fill first: a missing marker is carried along with the markers that keep
the steadiest distance to it (its rigid neighbours, found from the data, so no marker-set table
is needed). At each missing frame the neighbours still visible (at least 3) are aligned by a
least-squares rotation (Kabsch, via scipy) to the nearest frame where the marker was seen, and
the marker is placed where that motion takes it. Short gaps the rigid fill cannot close are
interpolated linearly in time; frames at the start or end that stay incomplete are trimmed.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial.transform import Rotation

RIGID_NEIGHBOURS = 4  # candidates per marker; at least 3 must be visible to place it
MIN_VISIBLE_NEIGHBOURS = 3


@dataclass
class GapReport:
    rigid_filled: int = 0     # marker samples placed by rigid-body fill
    interpolated: int = 0     # marker samples interpolated in time
    trimmed_start: int = 0    # frames dropped before the first complete frame
    trimmed_end: int = 0      # frames dropped after the last complete frame

    def as_dict(self) -> dict:
        return {key: int(value) for key, value in asdict(self).items()}


def _rigid_neighbours(markers: np.ndarray, m: int) -> np.ndarray:
    """Markers whose distance to marker ``m`` varies least over the frames both are seen."""
    distance = np.linalg.norm(markers - markers[:, m:m + 1], axis=-1)  # (T, M), NaN if unseen
    seen_together = np.sum(~np.isnan(distance), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # markers never seen together with m
        spread = np.nanstd(distance, axis=0)
    spread[m] = np.inf
    spread[seen_together < 2] = np.inf
    order = np.argsort(spread)[:RIGID_NEIGHBOURS]
    return order[np.isfinite(spread[order])]


def _rigid_fill(markers: np.ndarray, m: int, visible: np.ndarray) -> int:
    neighbours = _rigid_neighbours(markers, m)
    filled = 0
    for t in np.flatnonzero(~visible[:, m]):
        seen = neighbours[visible[t, neighbours]]
        if len(seen) < MIN_VISIBLE_NEIGHBOURS:
            continue
        references = np.flatnonzero(visible[:, m] & visible[:, seen].all(axis=1))
        if len(references) == 0:
            continue
        ref = references[np.argmin(np.abs(references - t))]
        now, then = markers[t, seen], markers[ref, seen]
        rotation, _ = Rotation.align_vectors(now - now.mean(0), then - then.mean(0))
        markers[t, m] = now.mean(0) + rotation.apply(markers[ref, m] - then.mean(0))
        filled += 1
    return filled


def _interpolate(track: np.ndarray, max_gap: int) -> int:
    """Linearly interpolate interior runs of NaN frames no longer than ``max_gap``, in place."""
    missing = np.isnan(track[:, 0])
    seen = np.flatnonzero(~missing)
    if len(seen) < 2:
        return 0
    runs = np.diff(np.r_[0, missing.astype(np.int8), 0])
    starts, ends = np.flatnonzero(runs == 1), np.flatnonzero(runs == -1)
    filled = 0
    for start, end in zip(starts, ends):
        if start == 0 or end == len(track) or end - start > max_gap:
            continue
        frames = np.arange(start, end)
        for axis in range(3):
            track[frames, axis] = np.interp(frames, seen, track[seen, axis])
        filled += end - start
    return filled


def fill_gaps(markers: np.ndarray, needed: list[int], max_interp_gap: int
              ) -> tuple[np.ndarray, GapReport]:
    """Fill the ``needed`` markers of (T, M, 3) ``markers`` (NaN = unseen).

    Returns the filled, trimmed array and what was done. Raises if a gap remains inside the clip.
    """
    markers = np.array(markers, dtype=np.float64)
    report = GapReport()
    visible = ~np.isnan(markers[..., 0])
    for m in needed:
        if not visible[:, m].all():
            report.rigid_filled += _rigid_fill(markers, m, visible)
    for m in needed:
        report.interpolated += _interpolate(markers[:, m], max_interp_gap)
    complete = ~np.isnan(markers[:, needed, 0]).any(axis=1)
    if not complete.any():
        raise ValueError("no frame has all needed markers, even after gap filling")
    first, last = np.flatnonzero(complete)[[0, -1]]
    if not complete[first:last + 1].all():
        bad = first + np.flatnonzero(~complete[first:last + 1])
        raise ValueError(f"{len(bad)} frames inside the clip (first: {bad[0]}) still miss markers "
                         f"after gap filling")
    report.trimmed_start, report.trimmed_end = int(first), int(len(markers) - 1 - last)
    return markers[first:last + 1], report
