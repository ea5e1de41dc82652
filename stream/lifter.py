"""Lifter stage: ring buffer -> lifting engine -> optional root position and One-Euro smoothing.

Takes the 2D stage's records one by one and returns those whose 3D pose is ready: the target
frame of each window is ``lookahead`` frames before the newest (0 = causal, no added delay). The
engine is anything with the ``engines.runtime`` interface (``window``, ``lookahead``,
``run(windows)``).
"""
from __future__ import annotations

import numpy as np

from stream.record import FrameRecord
from stream.ring import PoseRing
from stream.root import estimate_root, focal_from_fov
from stream.smoothing import PoseSmoother


class LifterStage:
    def __init__(self, engine, hold_frames: int = 5, root: bool = True, focal_px: float | None = None,
                 hfov_deg: float = 60.0, smoother: PoseSmoother | None = None) -> None:
        self.engine = engine
        self.ring = PoseRing(engine.window, engine.lookahead, hold_frames)
        self.root, self.focal_px, self.hfov_deg = root, focal_px, hfov_deg
        self.smoother = smoother
        self.last_pose2d = None
        self.no_person = self.held = self.root_failed = 0
        self._ready: list[FrameRecord] = []

    def focal_for(self, width: int) -> float:
        return self.focal_px if self.focal_px is not None else focal_from_fov(width, self.hfov_deg)

    def process(self, rec: FrameRecord) -> list[FrameRecord]:
        """Feed one frame's 2D result; returns the records lifted by it (0 to 1 + lookahead)."""
        if rec.pose2d is None:
            self.no_person += 1
            rec.pose2d = self.last_pose2d  # what a held frame publishes as its 2D pose
            if self.ring.push_missing(rec, self._emit):
                self.held += 1
            else:
                self._new_person()
        else:
            key = (rec.source_id, rec.pose2d.person_id)
            if self.ring.count and key != self.ring.key:
                self.ring.flush(self._emit)
                self._new_person()
            self.ring.push(rec.pose2d.h36m_normalized(), rec, key, self._emit)
            self.last_pose2d = rec.pose2d
        return self._take()

    def finish(self) -> list[FrameRecord]:
        """End of stream: lift the frames still waiting for their lookahead."""
        self.ring.flush(self._emit)
        self._new_person()
        return self._take()

    def _new_person(self) -> None:
        self.last_pose2d = None
        if self.smoother is not None:
            self.smoother.reset()

    def _take(self) -> list[FrameRecord]:
        ready, self._ready = self._ready, []
        return ready

    def _emit(self, window: np.ndarray, rec: FrameRecord, valid: bool) -> None:
        if self.engine.lookahead:
            rec.stamp("lookahead")
        rec.pose3d = np.asarray(self.engine.run(window[None])[0], dtype=np.float32)
        rec.valid = valid
        rec.stamp("lift")
        if self.root:
            rec.root = estimate_root(rec.pose3d, rec.pose2d.h36m_pixels(), self.focal_for(rec.image_size[0]),
                                     rec.image_size, rec.pose2d.h36m_scores())
            self.root_failed += rec.root is None
            rec.stamp("root")
        if self.smoother is not None:
            t_s = rec.t_capture_ns / 1e9
            rec.pose3d = self.smoother("pose3d", rec.pose3d, t_s)
            if rec.root is not None:
                rec.root = self.smoother("root", rec.root, t_s)
            rec.stamp("filter")
        self._ready.append(rec)
