"""Stable ids for the people in view: frame-to-frame association by motion, re-entry by build.

Each track predicts where its joints are now (its last joints moved on by its velocity).
Detections and tracks are paired by the Hungarian method (scipy) on the predicted joints'
distance, in person heights, plus one minus the boxes' overlap, within a gate that widens with
the time the track has gone unseen (or where the boxes overlap well: the joints of a bad
detection can be far off while its box is not). The velocity carries an id through a crossing
and through a short occlusion. Any detection can continue a track; only a confident one starts
a new track.

Not ByteTrack: supervision dropped it in 0.31, and its successor (the ``trackers`` package)
needs numpy 2, which mediapipe 0.10.21 cannot load. Pinning an older supervision would bring a
removed class and PyAV for what is one assignment per frame here. ByteTrack has no re-entry
either, so a layer like the one below would still be needed.

At most ``max_people`` are followed. When every place is taken, a newcomer takes the place of
the followed person unseen longest, if one was not seen in that frame: so a detector that sees
one person at a time and turns to someone else is followed there at once.

Identity across gaps comes from build: six segment lengths (head, torso, thigh, shin, upper arm,
forearm, left and right averaged) over the person's height (head + torso + thigh + shin), in
logs. That needs no model and no camera distance. Shoulder and hip widths, which vanish in
profile, are left out. A detection that motion leaves unclaimed takes back the identity of a
recently unseen track whose build it matches and who could have got there (re-entry). A
detection whose build fits another identity clearly better than the one motion gave it is handed
to that identity instead (an id switch, caught and undone).

What build cannot do: 2D proportions change with pose and view about as much as they differ
between adults. In ``build_distance`` (roughly a mean relative difference), the same walker seen
from another angle is ~0.1 away and a man doing parkour up to 0.25, while the sample clip's man
and woman are 0.07 apart. So build only tells apart clearly different bodies, such as an adult and
a small child. A stranger of similar build who walks in within ``reentry_s`` of someone's leaving
takes the leaver's id, and a swap between two such people goes unseen and uncounted. Telling
similar adults apart would need appearance (a re-id network).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from engines.skeleton import BONES, bone_lengths
from engines.skeleton import JOINT_INDEX as J

# A track may match a detection whose joints lie this far from its prediction, in person heights:
# a fixed part for pose changes and noise, plus a part per second unseen for changes of speed.
MOTION_GATE_HEIGHTS = 0.3
MOTION_GATE_HEIGHTS_PER_S = 1.5
# ... or whose box overlaps the predicted box this much: the detector's joints can be garbage
# (a person found upside down, squashed) where its box is still right.
BOX_GATE_IOU = 0.3
# No one is taken back by build where they could not have run to since last seen (the detector
# finding someone else the frame after one leaves the image).
MAX_SPEED_HEIGHTS_PER_S = 3.0
VELOCITY_SMOOTHING = 0.5      # weight of the newest frame in the velocity estimate
# A track's build is the mean over its first observations, then a running mean over that many;
# only then is it trusted to dispute what motion decided.
BUILD_FRAMES = 10
# One segment's log-ratio difference counts at most this much: a forearm pointing at the camera
# looks short in 2D, and must not outweigh the other five segments.
FORESHORTENING_CAP = 0.3
# An unclaimed detection lying this much inside a tracked one's box (or holding it) is the
# detector seeing that person twice (PoseLandmarker does), not someone new.
DUPLICATE_OVERLAP = 0.6
# A track seen fewer times than this is dropped the first frame it is missed: a detector's
# one-off (a bad duplicate, a false positive) must not hold one of max_people's places for lost_s;
# the live pipeline gives out ids only from this many sightings on (PeopleTracker min_frames).
CONFIRM_FRAMES = 3
_SHORTEST_SEGMENT_PX = 1e-3   # keeps the log finite for a segment seen end-on
_UNMATCHABLE = 1e6


@dataclass
class Detection:
    """One person found in one image."""

    box: np.ndarray     # (4,) x0, y0, x1, y1, pixels
    score: float
    joints: np.ndarray  # (17, 2) H36M joints, pixels


def build_signature(joints: np.ndarray) -> np.ndarray:
    """(6,) logs of head, torso, thigh, shin, upper arm and forearm lengths over the height:
    what a person looks like in 2D whatever the distance to the camera."""
    bone = dict(zip((child for _, child in BONES), bone_lengths(np.asarray(joints, np.float64))))

    def both_sides(joint: str) -> float:
        return (bone[J[f"left_{joint}"]] + bone[J[f"right_{joint}"]]) / 2

    head = bone[J["neck_nose"]] + bone[J["head_top"]]
    torso = bone[J["spine"]] + bone[J["thorax"]]
    segments = np.array([head, torso, both_sides("knee"), both_sides("ankle"),
                         both_sides("elbow"), both_sides("wrist")])
    segments = np.maximum(segments, _SHORTEST_SEGMENT_PX)
    return np.log(segments / segments[:4].sum())


def build_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean over segments of the capped log-ratio difference of two (..., 6) signatures. A metric:
    a detection far from one build and near another proves the two builds differ."""
    return np.minimum(np.abs(a - b), FORESHORTENING_CAP).mean(axis=-1)


def _area(box: np.ndarray) -> float:
    return float(np.prod(np.clip(box[2:] - box[:2], 0, None)))


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    return _area(np.concatenate([np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])]))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _containment(a: np.ndarray, b: np.ndarray) -> float:
    """How much of the smaller of two boxes lies inside the other."""
    smaller = min(_area(a), _area(b))
    return _intersection(a, b) / smaller if smaller > 0 else 0.0


def _heights_apart(track: _Track, joints: np.ndarray, track_joints: np.ndarray | None = None) -> float:
    """Mean joint distance from ``track_joints`` (by default where the track was last seen), in
    the track's heights."""
    reference = track.joints if track_joints is None else track_joints
    return float(np.linalg.norm(joints - reference, axis=1).mean()) / max(track.box[3] - track.box[1], 1.0)


class _Track:
    """One identity: where it was last seen, how it moves and what its build is."""

    def __init__(self, track_id: int, detection: Detection, build: np.ndarray, t_s: float) -> None:
        self.track_id = track_id
        self.joints, self.box = detection.joints, detection.box
        self.build = build
        self.last_seen_s = t_s
        self.velocity = np.zeros(2)   # px/s, the whole body's
        self.observations = 1
        self.lost = False             # unseen for longer than lost_s: only build can bring it back

    def predicted(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Joints and box where the track expects to be at ``t_s``."""
        shift = self.velocity * (t_s - self.last_seen_s)
        return self.joints + shift, self.box + np.tile(shift, 2)

    def observe(self, detection: Detection, build: np.ndarray, t_s: float, moved_by_motion: bool) -> None:
        """Take ``detection`` as this person at ``t_s``. After a re-entry or a swap the position
        jumped, so the speed starts again from rest."""
        velocity = np.zeros(2)
        dt = t_s - self.last_seen_s
        if moved_by_motion and dt > 0:
            measured = (detection.joints.mean(axis=0) - self.joints.mean(axis=0)) / dt
            velocity = measured if self.observations == 1 else \
                VELOCITY_SMOOTHING * measured + (1 - VELOCITY_SMOOTHING) * self.velocity
        self.velocity = velocity
        self.joints, self.box, self.last_seen_s, self.lost = detection.joints, detection.box, t_s, False
        self.observations += 1
        self.build = self.build + (build - self.build) / min(self.observations, BUILD_FRAMES)


class PeopleTracker:
    """Gives each detected person an integer id that stays with them (see the module docstring).

    ``counts``, plain ints for the pipeline report: ``new_ids`` (identities created),
    ``reentries`` (detections given back an identity that motion had let go), ``id_switches``
    (detections whose motion-given identity their build disputed, handed back to the right one),
    ``lost_tracks`` (tracks unseen for longer than ``lost_s``), ``displaced`` (tracks let go early,
    unseen in a frame where a newcomer needed their place), ``untracked`` (detections given
    -1: beyond ``max_people``, or too unsure to start a track), ``duplicates`` (detections given -1
    as a second sighting of a tracked person), ``unconfirmed`` (detections given -1 while their
    track is younger than ``min_frames``).
    """

    def __init__(self, lost_s: float = 1.5, reentry_s: float = 5.0, max_people: int = 2,
                 min_score: float = 0.5, same_build: float = 0.1, min_frames: int = 1) -> None:
        """``lost_s``: how long an unseen track is still followed by motion (an occlusion).
        ``reentry_s``: how long after that its identity can still be taken back by build.
        ``same_build``: the build distance (mean log-ratio, ~relative difference) under which two
        signatures may be the same person; it is also the margin a better fit needs to dispute motion.
        ``min_frames``: a new track's id is given out from its ``min_frames``-th sighting on (the
        ones before get -1, counted as ``unconfirmed``), so a one-off false detection never shows."""
        if not 0 < lost_s <= reentry_s:
            raise ValueError(f"need 0 < lost_s <= reentry_s, got lost_s={lost_s}, reentry_s={reentry_s}")
        if max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {max_people}")
        self.lost_s, self.reentry_s, self.max_people = lost_s, reentry_s, max_people
        self.min_score, self.same_build, self.min_frames = min_score, same_build, min_frames
        self.tracks: list[_Track] = []
        self.next_id = 0
        self.counts = {"new_ids": 0, "reentries": 0, "id_switches": 0, "lost_tracks": 0, "displaced": 0,
                       "untracked": 0, "duplicates": 0, "unconfirmed": 0}

    def update(self, detections: list[Detection], t_s: float) -> list[int]:
        """The id of each detection at time ``t_s`` (seconds, increasing), in the same order;
        -1 for one that is not tracked."""
        self._age(t_s)
        builds = [build_signature(d.joints) for d in detections]
        by_motion = self._match_by_motion(detections, t_s)
        settled = {i: track for i, track in by_motion.items() if not self._disputed(track, builds[i])}
        duplicates = {i for i in range(len(detections)) if i not in by_motion and any(
            _containment(detections[i].box, detections[k].box) >= DUPLICATE_OVERLAP for k in settled)}
        self.counts["duplicates"] += len(duplicates)
        unsettled = [i for i in range(len(detections)) if i not in settled and i not in duplicates]
        owners = {**settled, **self._settle_by_build(detections, builds, unsettled, by_motion, settled, t_s)}
        for i, track in owners.items():
            track.observe(detections[i], builds[i], t_s, moved_by_motion=by_motion.get(i) is track)
        self.tracks = [t for t in self.tracks if t.observations >= CONFIRM_FRAMES or t in owners.values()]
        for i in sorted(set(unsettled) - owners.keys(), key=lambda i: -detections[i].score):
            if detections[i].score >= self.min_score and (self._room() > 0 or self._displace(owners.values())):
                owners[i] = self._new_track(detections[i], builds[i], t_s)
            else:
                self.counts["untracked"] += 1
        confirmed = {i: track for i, track in owners.items() if track.observations >= self.min_frames}
        self.counts["unconfirmed"] += len(owners) - len(confirmed)
        return [confirmed[i].track_id if i in confirmed else -1 for i in range(len(detections))]

    def _settle_by_build(self, detections: list[Detection], builds: list[np.ndarray], unsettled: list[int],
                         by_motion: dict[int, _Track], settled: dict[int, _Track], t_s: float) -> dict[int, _Track]:
        """Owners for the detections motion left open or gave a disputed identity: the identity
        their build matches, else (for a disputed one) the motion's after all, if still free."""
        held = list(settled.values())
        by_build = self._match_by_build(detections, builds, unsettled, [t for t in self.tracks if t not in held], t_s)
        owners = {}
        for i in unsettled:
            motion_track = by_motion.get(i)
            if i in by_build:
                owners[i] = by_build[i]
                if motion_track is None:
                    self.counts["reentries"] += 1
                elif motion_track is not by_build[i]:
                    self.counts["id_switches"] += 1
            elif motion_track is not None and motion_track not in by_build.values():
                owners[i] = motion_track
        return owners

    def _age(self, t_s: float) -> None:
        """Mark tracks unseen for longer than lost_s as lost, and forget those past reentry_s."""
        for track in self.tracks:
            if not track.lost and t_s - track.last_seen_s > self.lost_s:
                track.lost = True
                self.counts["lost_tracks"] += 1
        self.tracks = [t for t in self.tracks if t_s - t.last_seen_s <= self.reentry_s]

    def _displace(self, seen) -> bool:
        """Every place is taken: let go of the followed track unseen longest, if one was not seen
        in this frame, to make room for a newcomer (``displaced``). So a single-person detector
        that turned to someone else is followed there at once, not after lost_s."""
        unseen = [t for t in self.tracks if not t.lost and t not in seen]
        if not unseen:
            return False
        min(unseen, key=lambda t: t.last_seen_s).lost = True
        self.counts["displaced"] += 1
        return True

    def _room(self) -> int:
        return self.max_people - sum(not t.lost for t in self.tracks)

    def _match_by_motion(self, detections: list[Detection], t_s: float) -> dict[int, _Track]:
        """Detection index -> the followed (not lost) track it continues."""
        followed = [t for t in self.tracks if not t.lost]
        cost = np.full((len(detections), len(followed)), _UNMATCHABLE)
        for k, track in enumerate(followed):
            joints, box = track.predicted(t_s)
            gate = MOTION_GATE_HEIGHTS + MOTION_GATE_HEIGHTS_PER_S * (t_s - track.last_seen_s)
            for i, detection in enumerate(detections):
                distance = _heights_apart(track, detection.joints, joints)
                overlap = box_iou(box, detection.box)
                if distance <= gate or overlap >= BOX_GATE_IOU:
                    cost[i, k] = distance + 1 - overlap
        return {i: followed[k] for i, k in zip(*linear_sum_assignment(cost)) if cost[i, k] < _UNMATCHABLE}

    def _disputed(self, track: _Track, build: np.ndarray) -> bool:
        """Whether another trusted identity fits this build better than ``track`` by more than
        same_build (so the two builds truly differ, build_distance being a metric)."""
        others = [t.build for t in self.tracks if t is not track and t.observations >= BUILD_FRAMES]
        if track.observations < BUILD_FRAMES or not others:
            return False
        return bool(build_distance(track.build, build) - build_distance(np.array(others), build).min() > self.same_build)

    def _match_by_build(self, detections: list[Detection], builds: list[np.ndarray], detection_indices: list[int],
                        candidates: list[_Track], t_s: float) -> dict[int, _Track]:
        """Detection index -> the candidate identity whose build it matches within same_build and
        who could have got there since last seen; a lost identity comes back only while there is
        room for one more person."""
        if not detection_indices or not candidates:
            return {}
        cost = build_distance(np.array([builds[i] for i in detection_indices])[:, None],
                              np.array([t.build for t in candidates])[None])
        for col, track in enumerate(candidates):
            reach = MOTION_GATE_HEIGHTS + MAX_SPEED_HEIGHTS_PER_S * (t_s - track.last_seen_s)
            for row, i in enumerate(detection_indices):
                if _heights_apart(track, detections[i].joints) > reach:
                    cost[row, col] = _UNMATCHABLE
        room = self._room()
        matched = {}
        for row, col in sorted(zip(*linear_sum_assignment(cost)), key=lambda pair: cost[pair]):
            track = candidates[col]
            if cost[row, col] < self.same_build and (not track.lost or room > 0):
                room -= track.lost
                matched[detection_indices[row]] = track
        return matched

    def _new_track(self, detection: Detection, build: np.ndarray, t_s: float) -> _Track:
        track = _Track(self.next_id, detection, build, t_s)
        self.next_id += 1
        self.tracks.append(track)
        self.counts["new_ids"] += 1
        return track
