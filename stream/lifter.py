"""Lifter stage: ring buffer -> lifting engine -> optional root position and One-Euro smoothing.

Takes the 2D stage's records one by one and returns those whose 3D pose is ready: the target
frame of each window is ``lookahead`` frames before the newest (0 = causal, no added delay). The
engine is anything with the ``engines.runtime`` interface (``window``, ``lookahead``,
``run(windows)``).

A held frame (nobody seen, ``valid`` false) repeats the last pose published in its window's
segment exactly, 3D and root included, as the wire format promises: lifting its window again
would move the pose although nothing was seen.

Left and right are repaired first (``engines.left_right``): MediaPipe swaps them for a few frames
now and then, and each pose's labels are kept continuous with the track's before it enters the
ring; the frames repaired are counted (``left_right.repaired``).

Fault policy: a change of source epoch (camera reconnected, stall, looped video) or of image
size restarts the window like a change of person, so no window spans a gap. A lifted pose or
root that is not finite is never handed on: the frame is dropped and counted (``non_finite``).
A pose is ``confident`` only when it is valid and every key joint's 2D score reaches
``min_key_score``; consumers get the scores too. With ``fuse_world`` the lifted pose is fused
with MediaPipe's world landmarks of the same frame (:mod:`engines.fusion`).
"""
from __future__ import annotations

import numpy as np

from engines.fusion import fuse_world, world_to_h36m
from engines.skeleton import JOINT_NAMES
from engines.left_right import LeftRightRepair
from stream.record import FrameRecord
from stream.ring import PoseRing
from stream.root import estimate_root, focal_from_fov
from stream.smoothing import PoseSmoother


class LifterStage:
    def __init__(self, engine, hold_frames: int = 5, root: bool = True, focal_px: float | None = None,
                 hfov_deg: float = 60.0, smoother: PoseSmoother | None = None,
                 max_batch: int | None = None, min_key_score: float = 0.5,
                 key_joints: tuple[str, ...] = ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
                 fuse_world: bool = False) -> None:
        self.engine = engine
        self.fuse_world = fuse_world
        self.min_key_score = min_key_score
        self.key_joints = [JOINT_NAMES.index(name) for name in key_joints]
        self.max_batch = max_batch
        self.ring = PoseRing(engine.window, engine.lookahead, hold_frames)
        self.left_right = LeftRightRepair()
        self.root, self.focal_px, self.hfov_deg = root, focal_px, hfov_deg
        self.smoother = smoother
        self.last_pose2d = None
        self.no_person = self.held = self.root_failed = self.skipped = self.non_finite = self.not_confident = 0
        self.epoch_restarts = 0  # windows restarted because the source had a gap
        self.segment = 0  # bumped whenever the ring restarts: smoothing must not cross it
        self._smoothed_segment = -1
        self._windows: list[np.ndarray] = []
        self._pending: list[tuple[FrameRecord, int, bool]] = []  # (record, segment, flushed)
        self._flushing = False
        self._last_published: tuple[int, FrameRecord] | None = None  # (segment, record) of the last valid pose

    def focal_for(self, width: int) -> float:
        return self.focal_px if self.focal_px is not None else focal_from_fov(width, self.hfov_deg)

    def process(self, records: list[FrameRecord]) -> list[FrameRecord]:
        """Feed 2D results in frame order; returns the records whose 3D pose they completed.

        Every pose goes into the ring, so windows stay evenly spaced in time. The windows
        completed go through the engine in one batch; with ``max_batch`` set (live sources) only
        the newest ``max_batch`` are lifted and older ones are skipped and counted, so a lifter
        that fell behind catches up at once instead of adding latency (on a CPU a batch costs
        as much as its windows one by one). The windows a restart flushes (the last
        ``lookahead`` frames before a gap) are always lifted: no newer window stands for them.
        """
        for rec in records:
            self._push(rec)
        return self._lift()

    def finish(self) -> list[FrameRecord]:
        """End of stream: lift the frames still waiting for their lookahead."""
        self._restart()
        return self._lift()

    def _restart(self) -> None:
        """Flush the ring (its last targets, padded) and start a new segment."""
        self._flushing = True
        self.ring.flush(self._collect)
        self._flushing = False
        self._end_segment()

    def _push(self, rec: FrameRecord) -> None:
        if self.ring.count and self.ring.key[:3] != (rec.source_id, rec.epoch, rec.image_size):
            self.epoch_restarts += 1  # a gap in the source: never hold or extend across it
            self._restart()
        if rec.pose2d is None:
            self.no_person += 1
            rec.pose2d = self.last_pose2d  # what a held frame publishes as its 2D pose
            if self.ring.count and self.ring.missing < self.ring.hold_frames:
                self.held += self.ring.push_missing(rec, self._collect)
            elif self.ring.count:
                self._restart()  # held long enough: nobody is there
            return
        key = (rec.source_id, rec.epoch, rec.image_size, rec.pose2d.person_id)
        if self.ring.count and key != self.ring.key:
            self._restart()
        rec.pose2d = rec.pose2d.relabelled(self.left_right(rec.pose2d.landmarks_px))
        self.ring.push(rec.pose2d.h36m_normalized(), rec, key, self._collect)
        self.last_pose2d = rec.pose2d

    def _end_segment(self) -> None:
        self.last_pose2d = None
        self.left_right.reset()  # a new track: its labels start from MediaPipe's
        self.segment += 1

    def _collect(self, window: np.ndarray, rec: FrameRecord, valid: bool) -> None:
        if self.engine.lookahead:
            rec.stamp("lookahead")
        rec.valid = valid
        self._windows.append(window.copy())  # the ring's view changes with the next push
        self._pending.append((rec, self.segment, self._flushing))

    def _lift(self) -> list[FrameRecord]:
        if not self._pending:
            return []
        if self.max_batch is not None:
            newest = set([k for k, (_, _, flushed) in enumerate(self._pending) if not flushed][-self.max_batch:])
            keep = [k for k, (_, _, flushed) in enumerate(self._pending) if flushed or k in newest]
            self.skipped += len(self._pending) - len(keep)
            self._windows, self._pending = [self._windows[k] for k in keep], [self._pending[k] for k in keep]
        poses = np.asarray(self.engine.run(np.stack(self._windows)), dtype=np.float32)
        done = []
        # Root-align (as MPJPE does): consumers are promised the pelvis exactly at the origin.
        poses = poses - poses[:, :1]
        if self.fuse_world:
            world = np.stack([world_to_h36m(rec.pose2d.world) for rec, _, _ in self._pending])
            poses = fuse_world(poses, world)
        for (rec, segment, _), pose in zip(self._pending, poses):
            rec.pose3d = pose
            rec.stamp("lift")
            if not rec.valid and self._last_published is not None and self._last_published[0] == segment:
                last = self._last_published[1]
                rec.pose3d, rec.root, rec.confident = last.pose3d, last.root, False
                self.not_confident += 1
                done.append(rec)
                continue
            if self.root:
                rec.root = estimate_root(pose, rec.pose2d.h36m_pixels(), self.focal_for(rec.image_size[0]),
                                         rec.image_size, rec.pose2d.h36m_scores())
                self.root_failed += rec.root is None
                rec.stamp("root")
            if self.smoother is not None:
                self._smooth(rec, segment)
                rec.stamp("filter")
            if not (np.isfinite(rec.pose3d).all() and (rec.root is None or np.isfinite(rec.root).all())):
                self.non_finite += 1
                continue
            rec.confident = rec.valid and bool((rec.pose2d.h36m_scores()[self.key_joints] >= self.min_key_score).all())
            self.not_confident += not rec.confident
            if rec.valid:
                self._last_published = (segment, rec)
            done.append(rec)
        self._windows, self._pending = [], []
        return done

    def _smooth(self, rec: FrameRecord, segment: int) -> None:
        if segment != self._smoothed_segment:
            self.smoother.reset()
            self._smoothed_segment = segment
        t_s = rec.t_capture_ns / 1e9
        rec.pose3d = self.smoother("pose3d", rec.pose3d, t_s)
        if rec.root is not None:
            rec.root = self.smoother("root", rec.root, t_s)
