"""Optional One-Euro smoothing of the lifted pose (Casiez et al., CHI 2012).

Uses the reference implementation from PyPI (``OneEuroFilter``, by the method's authors), one
scalar filter per coordinate, driven by the frames' capture times so dropped frames do not
distort the filter's notion of speed.
"""
from __future__ import annotations

import numpy as np
from OneEuroFilter import OneEuroFilter


class PoseSmoother:
    """Smooths named streams of fixed-shape arrays (``"pose3d"``, ``"root"``) of one person."""

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0) -> None:
        self.params = dict(freq=fps, mincutoff=min_cutoff, beta=beta, dcutoff=d_cutoff)
        self.filters: dict[str, list[OneEuroFilter]] = {}

    def fresh(self) -> PoseSmoother:
        """A smoother with the same settings and no history: one for each further person."""
        other = PoseSmoother.__new__(PoseSmoother)
        other.params, other.filters = dict(self.params), {}
        return other

    def __call__(self, name: str, values: np.ndarray, t_s: float) -> np.ndarray:
        flat = values.reshape(-1)
        filters = self.filters.get(name)
        if filters is None or len(filters) != flat.size:
            filters = self.filters[name] = [OneEuroFilter(**self.params) for _ in range(flat.size)]
        out = [f(float(v), t_s) for f, v in zip(filters, flat)]
        return np.asarray(out, dtype=values.dtype).reshape(values.shape)
