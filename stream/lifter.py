"""Lifter stage: one ring buffer per person -> one engine call for all -> root and smoothing.

Takes the 2D stage's records (one per frame, with the frame's tracked ``people``) and returns one
record per person and frame whose 3D pose is ready: the target frame of each window is
``lookahead`` frames before the newest (0 = causal, no added delay). The engine is anything with
the ``engines.runtime`` interface (``window``, ``lookahead``, ``run(windows)``). The windows that
every person's ring completed go through it as one batch.

A person's window, left/right repair and smoothing belong to that person and one unbroken stretch
of them (a *segment*): they start afresh whenever the person is new, comes back after a gap, or
the source has one. A person missing from a frame is held (their last pose, ``valid`` false) for
up to ``hold_frames`` frames, then let go; a held frame repeats the last pose published in its
segment exactly, 3D and root included, as the wire format promises. At most ``max_people``
people are followed: a newcomer beyond that takes the place of the one unseen longest.

Left and right are repaired first (``engines.left_right``): MediaPipe swaps them for a few frames
now and then, and each pose's labels are kept continuous with the person's before it enters the
ring; the frames repaired are counted (``left_right_repaired``).

Fault policy: a change of source epoch (camera reconnected, stall, looped video) or of image
size ends every segment, so no window spans a gap. A lifted pose or root that is not finite is
never handed on: it is dropped and counted (``non_finite``). A pose is ``confident`` only when
it is valid and every key joint's 2D score reaches ``min_key_score``; consumers get the scores
too. With ``fuse_world`` the lifted pose is fused with MediaPipe's world landmarks of the same
person and frame (:mod:`engines.fusion`), each segment with its own smoothed correction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.fusion import TAU_S, WorldFusion, corrections, world_to_h36m
from engines.left_right import LeftRightRepair
from engines.skeleton import JOINT_NAMES
from stream.pose2d import Pose2D
from stream.record import FrameRecord
from stream.ring import PoseRing
from stream.root import estimate_root, focal_from_fov
from stream.smoothing import PoseSmoother


@dataclass
class _Segment:
    """One person's unbroken stretch of frames: the state that must not cross a gap or a person."""

    ring: PoseRing
    smoother: PoseSmoother | None
    fusion: WorldFusion | None
    left_right: LeftRightRepair = field(default_factory=LeftRightRepair)
    last_pose2d: Pose2D | None = None          # what a held frame publishes as its 2D pose
    last_published: FrameRecord | None = None  # what a held frame publishes as its 3D pose


@dataclass
class _Pending:
    """A window waiting for the engine, and whose it is."""

    window: np.ndarray
    rec: FrameRecord
    segment: _Segment
    flushed: bool  # emitted by a restart: no newer window stands for it, so it is never skipped


class LifterStage:
    """See the module docstring. ``smoother`` is a pattern: each person's segment gets a fresh
    copy of it (:meth:`PoseSmoother.fresh`)."""

    def __init__(self, engine, hold_frames: int = 5, root: bool = True, focal_px: float | None = None,
                 hfov_deg: float = 60.0, smoother: PoseSmoother | None = None,
                 max_batch: int | None = None, min_key_score: float = 0.5,
                 key_joints: tuple[str, ...] = ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
                 fuse_world: bool = False, max_people: int = 1, fuse_tau_s: float = TAU_S) -> None:
        if max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {max_people}")
        self.engine = engine
        self.fuse_world, self.fuse_tau_s = fuse_world, fuse_tau_s
        self.min_key_score = min_key_score
        self.key_joints = [JOINT_NAMES.index(name) for name in key_joints]
        self.max_batch, self.max_people, self.hold_frames = max_batch, max_people, hold_frames
        self.root, self.focal_px, self.hfov_deg = root, focal_px, hfov_deg
        self.smoother = smoother
        self.people: dict[int, _Segment] = {}  # person id -> their current segment
        self.source_key: tuple | None = None    # (source id, epoch, image size) of the people's frames
        # Counts for the report: frames with nobody seen; frames that gave someone's pose, and
        # nobody's (nobody seen or held); poses pushed (one per person and frame, held ones
        # included); held poses.
        self.no_person = self.frames_with_pose = self.frames_without_pose = self.person_frames = self.held = 0
        self.root_failed = self.skipped = self.non_finite = self.not_confident = 0
        self.epoch_restarts = 0  # segments ended because the source had a gap
        self.left_right_repaired = 0
        self._pending: list[_Pending] = []
        self._flushing = False

    def focal_for(self, width: int) -> float:
        return self.focal_px if self.focal_px is not None else focal_from_fov(width, self.hfov_deg)

    def process(self, records: list[FrameRecord]) -> list[FrameRecord]:
        """Feed 2D results in frame order; returns a record per person whose 3D pose they completed.

        Every pose goes into its person's ring, so windows stay evenly spaced in time. The windows
        completed go through the engine in one batch; with ``max_batch`` set (live sources) only
        each person's newest ``max_batch`` are lifted and older ones are skipped and counted, so a
        lifter that fell behind catches up at once instead of adding latency (on a CPU a batch
        costs as much as its windows one by one). The windows a restart flushes (the last
        ``lookahead`` frames before a gap) are always lifted: no newer window stands for them.
        """
        for rec in records:
            self._push(rec)
        return self._lift()

    def finish(self) -> list[FrameRecord]:
        """End of stream: lift the frames still waiting for their lookahead."""
        for person_id in list(self.people):
            self._end(person_id)
        return self._lift()

    def _push(self, rec: FrameRecord) -> None:
        key = (rec.source_id, rec.epoch, rec.image_size)
        if self.people and key != self.source_key:
            self.epoch_restarts += 1  # a gap in the source: never hold or extend across it
            for person_id in list(self.people):
                self._end(person_id)
        self.source_key = key
        present = {pose.person_id: pose for pose in rec.people}
        self.no_person += not present
        pushed = 0
        self._make_room(present)
        for person_id in [p for p in self.people if p not in present]:
            pushed += self._hold(person_id, rec)
        for person_id, pose in present.items():
            self._push_pose(person_id, pose, rec)
            pushed += 1
        self.person_frames += pushed
        self.frames_with_pose += bool(pushed)
        self.frames_without_pose += not pushed

    def _make_room(self, present: dict[int, Pose2D]) -> None:
        """Before newcomers: let go of the people unseen longest until max_people are followed."""
        newcomers = sum(p not in self.people for p in present)
        while newcomers and len(self.people) + newcomers > self.max_people:
            absent = [p for p in self.people if p not in present]
            if not absent:
                return
            self._end(max(absent, key=lambda p: self.people[p].ring.missing))

    def _hold(self, person_id: int, rec: FrameRecord) -> bool:
        """``person_id`` is not in ``rec``: hold their last pose, or let them go. Whether held."""
        segment = self.people[person_id]
        if segment.ring.missing >= self.hold_frames:
            self._end(person_id)  # held long enough: they are gone
            return False
        segment.ring.push_missing(rec.for_person(segment.last_pose2d), lambda w, r, v: self._collect(w, r, v, segment))
        self.held += 1
        return True

    def _push_pose(self, person_id: int, pose: Pose2D, rec: FrameRecord) -> None:
        if person_id not in self.people:
            smoother = self.smoother.fresh() if self.smoother is not None else None
            fusion = WorldFusion(tau_s=self.fuse_tau_s) if self.fuse_world else None
            self.people[person_id] = _Segment(PoseRing(self.engine.window, self.engine.lookahead, self.hold_frames),
                                              smoother, fusion)
        segment = self.people[person_id]
        before = segment.left_right.repaired
        pose = pose.relabelled(segment.left_right(pose.landmarks_px))
        self.left_right_repaired += segment.left_right.repaired - before
        segment.ring.push(pose.h36m_normalized(), rec.for_person(pose), person_id,
                          lambda w, r, v: self._collect(w, r, v, segment))
        segment.last_pose2d = pose

    def _end(self, person_id: int) -> None:
        """End ``person_id``'s segment: lift its last targets (padded) and forget them."""
        segment = self.people.pop(person_id)
        self._flushing = True
        segment.ring.flush(lambda w, r, v: self._collect(w, r, v, segment))
        self._flushing = False

    def _collect(self, window: np.ndarray, rec: FrameRecord, valid: bool, segment: _Segment) -> None:
        if self.engine.lookahead:
            rec.stamp("lookahead")
        rec.valid = valid
        self._pending.append(_Pending(window.copy(), rec, segment, self._flushing))  # the view changes

    def _lift(self) -> list[FrameRecord]:
        if not self._pending:
            return []
        pending = self._pending if self.max_batch is None else self._newest_per_person()
        self.skipped += len(self._pending) - len(pending)
        self._pending = []
        poses = np.asarray(self.engine.run(np.stack([p.window for p in pending])), dtype=np.float32)
        # Root-align (as MPJPE does): consumers are promised the pelvis exactly at the origin.
        poses = poses - poses[:, :1]
        if self.fuse_world:
            fixes = corrections(poses, np.stack([world_to_h36m(p.rec.pose2d.world) for p in pending]))
            poses = np.stack([p.segment.fusion(pose, fix, p.rec.t_s) for p, pose, fix in zip(pending, poses, fixes)])
        done = []
        for item, pose in zip(pending, poses):
            rec, segment = item.rec, item.segment
            rec.pose3d = pose
            rec.stamp("lift")
            if not rec.valid and segment.last_published is not None:
                last = segment.last_published
                rec.pose3d, rec.root, rec.confident = last.pose3d, last.root, False
                self.not_confident += 1
                done.append(rec)
                continue
            if self.root:
                rec.root = estimate_root(pose, rec.pose2d.h36m_pixels(), self.focal_for(rec.image_size[0]),
                                         rec.image_size, rec.pose2d.h36m_scores())
                self.root_failed += rec.root is None
                rec.stamp("root")
            if segment.smoother is not None:
                rec.pose3d = segment.smoother("pose3d", rec.pose3d, rec.t_s)
                if rec.root is not None:
                    rec.root = segment.smoother("root", rec.root, rec.t_s)
                rec.stamp("filter")
            if not (np.isfinite(rec.pose3d).all() and (rec.root is None or np.isfinite(rec.root).all())):
                self.non_finite += 1
                continue
            rec.confident = rec.valid and bool((rec.pose2d.h36m_scores()[self.key_joints] >= self.min_key_score).all())
            self.not_confident += not rec.confident
            if rec.valid:
                segment.last_published = rec
            done.append(rec)
        return done

    def _newest_per_person(self) -> list[_Pending]:
        """The pending windows less those a live run skips: all but each person's newest
        ``max_batch`` that no restart flushed."""
        keep, newest = [], {}
        for item in reversed(self._pending):
            taken = newest.setdefault(id(item.segment), 0)
            if item.flushed or taken < self.max_batch:
                keep.append(item)
                newest[id(item.segment)] = taken + (not item.flushed)
        return keep[::-1]
