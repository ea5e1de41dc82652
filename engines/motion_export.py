"""Export H36M-17 motion for mocap tools: BVH (a skeleton with joint rotations), CSV and TRC (markers).

Input is what the lifter produces: (N, 17, 3) root-relative poses in metres, camera coordinates
(x right, y down, z forward), with an optional (N, 3) pelvis position from the camera. Every
format is written in one Y-up frame: the camera frame turned 180 degrees about x, i.e.
(x, y, z)_out = (x, -y, -z)_camera, so y is up and z points from the scene toward the camera.
The pelvis sits at the root estimate where there is one, else at the origin. The conventions of
the BVH skeleton and its rotations are in docs/motion-export.md; in short:

* Hierarchy: ``Hips`` (pelvis) with the legs, and ``Spine`` -> ``Neck`` (thorax) carrying ``Head``
  (nose) and both arms. The five H36M leaves (ankles, wrists, head top) are End Sites: nothing
  measured says how a foot or hand is turned, so no rotation is invented for them.
* Bone lengths are the clip's medians, so the skeleton is rigid.
* Rest pose: Y up, facing +Z, arms out sideways (T-pose), legs and spine straight; the offsets
  from the pelvis to hips and spine and from the thorax to shoulders and nose are the clip's
  median shape of those two rigid groups.
* Rotations: the pelvis and thorax are turned by the least-squares rotation (Kabsch) taking their
  three rest offsets onto the observed ones; every other joint by the smallest rotation, relative
  to its parent, taking its rest bone direction onto the observed one (no twist about the bone).
  Channels are ``Zrotation Xrotation Yrotation`` (R = Rz Rx Ry), in degrees, unwrapped over time.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engines.skeleton import BONES, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, bone_lengths
from engines.stream_rows import rows_of_stream

UNITS = {"m": 1.0, "cm": 100.0, "mm": 1000.0}
# A pelvis moving this far between two frames is not a person walking (15 m/s at 30 fps): the
# tracker switched people or the root fit failed.
ROOT_JUMP_M = 0.5
CAMERA_TO_Y_UP = np.array([1.0, -1.0, -1.0])  # a proper rotation: 180 degrees about x
EULER_ORDER = "ZXY"
BVH_NAMES = {
    "pelvis": "Hips", "right_hip": "RightUpLeg", "right_knee": "RightLeg", "left_hip": "LeftUpLeg",
    "left_knee": "LeftLeg", "spine": "Spine", "thorax": "Neck", "neck_nose": "Head",
    "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm",
}
CHILDREN = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(NUM_JOINTS)}


def _depth_first(joint: int = 0) -> list[int]:
    return [joint] + [j for child in CHILDREN[joint] for j in _depth_first(child)]


# Joints that carry rotations, in the order of the file's hierarchy (and so of its channels).
BVH_JOINTS = [j for j in _depth_first() if CHILDREN[j]]
END_SITES = [j for j in range(NUM_JOINTS) if not CHILDREN[j]]       # ankles, head top, wrists
# Rest direction of each single-child bone, by child joint: legs down, spine and head up, T-pose arms.
_REST_DIRECTION = {
    "right_knee": (0, -1, 0), "right_ankle": (0, -1, 0), "left_knee": (0, -1, 0), "left_ankle": (0, -1, 0),
    "thorax": (0, 1, 0), "head_top": (0, 1, 0),
    "left_elbow": (1, 0, 0), "left_wrist": (1, 0, 0), "right_elbow": (-1, 0, 0), "right_wrist": (-1, 0, 0),
}
# The joints with three children (pelvis, thorax) and how their frame is built: x from the right
# to the left child, y along the spine (``up_from`` -> ``up_to``) made orthogonal to x, z = x cross y.
_GROUPS = {  # joint: (right, left, up_from, up_to)
    JOINT_INDEX["pelvis"]: tuple(JOINT_INDEX[n] for n in ("right_hip", "left_hip", "pelvis", "spine")),
    JOINT_INDEX["thorax"]: tuple(JOINT_INDEX[n] for n in ("right_shoulder", "left_shoulder", "spine", "thorax")),
}


@dataclass
class Motion:
    """A clip to export: root-relative camera-frame poses, metres, at ``fps``."""

    pose3d: np.ndarray               # (N, 17, 3)
    fps: float
    root: np.ndarray | None = None   # (N, 3) pelvis from the camera; NaN rows where unknown
    filled_frames: int = 0           # frames missing from the input (gaps in seq), interpolated
    person: int | None = None        # who, when the input says who each pose is
    other_people: dict[int, int] = field(default_factory=dict)  # person -> poses left out

    def __post_init__(self) -> None:
        self.pose3d = np.asarray(self.pose3d, dtype=np.float64)
        if self.pose3d.ndim != 3 or self.pose3d.shape[1:] != (NUM_JOINTS, 3) or len(self.pose3d) < 1:
            raise ValueError(f"pose3d must have shape (N, {NUM_JOINTS}, 3) with N >= 1, got {self.pose3d.shape}")
        if not np.isfinite(self.pose3d).all():
            bad = np.flatnonzero(~np.isfinite(self.pose3d).all(axis=(1, 2)))
            raise ValueError(f"pose3d is not finite in {len(bad)} frames (first: {bad[0]})")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        if self.root is not None:
            self.root = np.asarray(self.root, dtype=np.float64)
            if self.root.shape != (len(self.pose3d), 3):
                raise ValueError(f"root must have shape ({len(self.pose3d)}, 3), got {self.root.shape}")

    @property
    def has_root(self) -> bool:
        return self.root is not None and bool(np.isfinite(self.root).all(axis=1).any())

    def root_jumps(self) -> np.ndarray:
        """Frames ``i`` whose pelvis is more than ``ROOT_JUMP_M`` from frame ``i - 1``'s (both known)."""
        if not self.has_root:
            return np.zeros(0, dtype=np.int64)
        step = np.linalg.norm(np.diff(self.root, axis=0), axis=1)
        return np.flatnonzero(step > ROOT_JUMP_M) + 1  # NaN steps compare False

    def bone_length_variation(self) -> dict[str, float]:
        """How much the lifter's bone lengths vary over the clip (the BVH fixes each at its median):
        per bone the standard deviation over the median, as ``{child joint name: fraction}``."""
        lengths = bone_lengths(self.pose3d)
        return {JOINT_NAMES[c]: float(v) for (_, c), v in zip(BONES, lengths.std(axis=0) / np.median(lengths, axis=0))}

    def positions(self) -> np.ndarray:
        """(N, 17, 3) metres in the export frame (Y up), pelvis at the root estimate: frames without
        one take it interpolated from their neighbours; with none at all the pelvis is at the origin."""
        root = _interpolate_gaps(self.root) if self.has_root else np.zeros((len(self.pose3d), 3))
        return (self.pose3d + root[:, None, :]) * CAMERA_TO_Y_UP


def _interpolate_gaps(values: np.ndarray) -> np.ndarray:
    """Fill NaN rows of (N, D) by linear interpolation (held at the ends); all-NaN -> zeros."""
    known = np.isfinite(values).all(axis=1)
    if not known.any():
        return np.zeros_like(values)
    frames = np.arange(len(values))
    return np.stack([np.interp(frames, frames[known], values[known, d]) for d in range(values.shape[1])], axis=1)


def load_motion(path: str | Path, stream_id: str | None = None, fps: float | None = None,
                person: int | None = None) -> Motion:
    """A clip from an .npz holding ``pose3d`` (N, 17, 3) and optionally ``root`` (N, 3), ``fps``,
    ``seq``, ``stream_id`` and ``person`` per row (the output of tools/lift.py or a stream
    recording), or from a .npy holding the poses alone.

    ``fps`` overrides the file's. One skeleton is one person: of several, ``person`` or else the
    one with the most poses (the others are counted in ``other_people``). Rows are placed by
    ``seq`` when present; frames missing from the sequence are interpolated (``filled_frames``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not an .npz file: {err}") from None
    if isinstance(npz, np.ndarray):  # a bare .npy: the poses alone
        data = {"pose3d": npz}
    else:
        with npz:
            if "pose3d" not in npz.files:
                raise ValueError(f"{path} has no 'pose3d' array (keys: {sorted(npz.files)})")
            data = {name: npz[name] for name in ("pose3d", "root", "fps", "seq", "stream_id", "person")
                    if name in npz.files}
    rows = rows_of_stream(path, data["stream_id"], stream_id) if "stream_id" in data else np.arange(len(data["pose3d"]))
    others: dict[int, int] = {}
    if "person" in data:
        ids, counts = np.unique(data["person"][rows], return_counts=True)
        if person is None:
            person = int(ids[np.argmax(counts)])
        elif person not in ids:
            raise ValueError(f"{path} has no person {person} (people: {ids.tolist()})")
        others = {int(i): int(c) for i, c in zip(ids, counts) if i != person}
        rows = rows[data["person"][rows] == person]
    elif person is not None:
        raise ValueError(f"{path} does not say who each pose is (no 'person' array); leave out the person")
    if fps is None:
        if "fps" not in data:
            raise ValueError(f"{path} does not say its frame rate; pass fps")
        per_row = np.atleast_1d(data["fps"])
        fps = float(np.median(per_row[rows] if len(per_row) == len(data["pose3d"]) else per_row))
    pose3d = data["pose3d"][rows].astype(np.float64)
    root = data["root"][rows].astype(np.float64) if "root" in data else None
    filled = 0
    if "seq" in data:
        seq = data["seq"][rows].astype(np.int64)
        if np.any(np.diff(seq) <= 0):
            raise ValueError(f"{path}: seq is not increasing")
        frames = seq - seq[0]
        filled = int(frames[-1] + 1 - len(frames))
        if filled:
            full = np.full((frames[-1] + 1, NUM_JOINTS * 3), np.nan)
            full[frames] = pose3d.reshape(len(frames), -1)
            pose3d = _interpolate_gaps(full).reshape(-1, NUM_JOINTS, 3)
            if root is not None:
                root_full = np.full((frames[-1] + 1, 3), np.nan)
                root_full[frames] = root
                root = root_full
    return Motion(pose3d, fps, root, filled, person, others)


# --- BVH -------------------------------------------------------------------------------------
@dataclass
class BvhSkeleton:
    """Rest offsets (parent -> joint, metres, Y up) of every joint and End Site."""

    offsets: np.ndarray              # (17, 3); the pelvis row is zero

    @classmethod
    def fit(cls, positions: np.ndarray) -> "BvhSkeleton":
        """Median bone lengths; rest directions as in the module docstring."""
        length = {c: median for (_, c), median in zip(BONES, np.median(bone_lengths(positions), axis=0))}
        offsets = np.zeros((NUM_JOINTS, 3))
        for name, direction in _REST_DIRECTION.items():
            offsets[JOINT_INDEX[name]] = np.array(direction) * length[JOINT_INDEX[name]]
        for joint in _GROUPS:
            children = CHILDREN[joint]
            frames = _group_frames(positions, joint)                           # (N, 3, 3) columns x, y, z
            local = np.einsum("nji,ncj->nci", frames, positions[:, children] - positions[:, [joint]])
            directions = np.median(local, axis=0)
            for child, direction in zip(children, directions):
                offsets[child] = direction / np.linalg.norm(direction) * length[child]
        return cls(offsets)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _group_frames(positions: np.ndarray, joint: int) -> np.ndarray:
    """(N, 3, 3) orthonormal frames (columns x left, y up, z forward) of the pelvis or thorax."""
    right, left, up_from, up_to = _GROUPS[joint]
    x = _unit(positions[:, left] - positions[:, right])
    up = positions[:, up_to] - positions[:, up_from]
    y = _unit(up - np.sum(up * x, axis=-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def solve_rotations(positions: np.ndarray, skeleton: BvhSkeleton) -> dict[int, Rotation]:
    """Local rotation (relative to the parent) of every BVH joint, per frame."""
    world: dict[int, Rotation] = {}
    local: dict[int, Rotation] = {}
    for joint in BVH_JOINTS:
        children = CHILDREN[joint]
        parent = world.get(PARENTS[joint], Rotation.identity(len(positions)))
        observed = positions[:, children] - positions[:, [joint]]
        if len(children) > 1:   # rigid group: least-squares fit of all three offsets
            world[joint] = Rotation.concatenate([Rotation.align_vectors(observed[n], skeleton.offsets[children])[0]
                                                 for n in range(len(positions))])
            local[joint] = parent.inv() * world[joint]
        else:                   # one bone: the smallest turn from the rest direction, in the parent's frame
            local[joint] = shortest_arc(skeleton.offsets[children[0]], parent.inv().apply(observed[:, 0]))
            world[joint] = parent * local[joint]
    return local


def shortest_arc(rest: np.ndarray, targets: np.ndarray) -> Rotation:
    """Per row of ``targets`` (N, 3), the smallest rotation turning direction ``rest`` onto it
    (half a turn about an axis perpendicular to ``rest`` when they are opposite)."""
    a, b = _unit(np.asarray(rest, dtype=np.float64)), _unit(targets)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis, axis=-1), b @ a
    opposite = sin < 1e-9
    perpendicular = np.cross(a, np.eye(3)[np.argmin(np.abs(a))])
    axis[opposite] = perpendicular
    return Rotation.from_rotvec(_unit(axis) * np.arctan2(sin, cos)[:, None])


def write_bvh(path: str | Path, motion: Motion, units: str = "m") -> Path:
    """Write ``motion`` as BVH; returns the path."""
    scale = _scale(units)
    positions = motion.positions()
    skeleton = BvhSkeleton.fit(positions)
    rotations = solve_rotations(positions, skeleton)
    columns = [positions[:, 0] * scale]
    for joint in BVH_JOINTS:
        with warnings.catch_warnings():  # at gimbal lock scipy warns, but the angles still give the rotation
            warnings.simplefilter("ignore", UserWarning)
            angles = rotations[joint].as_euler(EULER_ORDER)
        columns.append(np.degrees(np.unwrap(angles, axis=0)))
    offsets = np.where(np.abs(skeleton.offsets) < 5e-7, 0.0, skeleton.offsets * scale)  # no "-0.000000"
    lines = ["HIERARCHY", *_hierarchy(0, offsets, 0), "MOTION",
             f"Frames: {len(positions)}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    values = np.concatenate(columns, axis=1)
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _hierarchy(joint: int, offsets: np.ndarray, depth: int) -> list[str]:
    pad, inner = "\t" * depth, "\t" * (depth + 1)
    offset = " ".join(f"{v:.6f}" for v in offsets[joint])
    if joint in END_SITES:
        return [f"{pad}End Site", f"{pad}{{", f"{inner}OFFSET {offset}", f"{pad}}}"]
    channels = "Zrotation Xrotation Yrotation"
    if PARENTS[joint] < 0:
        head, channels = f"ROOT {BVH_NAMES[JOINT_NAMES[joint]]}", f"6 Xposition Yposition Zposition {channels}"
    else:
        head, channels = f"JOINT {BVH_NAMES[JOINT_NAMES[joint]]}", f"3 {channels}"
    lines = [f"{pad}{head}", f"{pad}{{", f"{inner}OFFSET {offset}", f"{inner}CHANNELS {channels}"]
    for child in CHILDREN[joint]:
        lines += _hierarchy(child, offsets, depth + 1)
    return lines + [f"{pad}}}"]


# --- marker formats --------------------------------------------------------------------------
def _scale(units: str) -> float:
    if units not in UNITS:
        raise ValueError(f"units must be one of {sorted(UNITS)}, got {units!r}")
    return UNITS[units]


def write_csv(path: str | Path, motion: Motion, units: str = "m") -> Path:
    """One row per frame: ``frame,time_s,<joint>_x,<joint>_y,<joint>_z,...``, after ``#`` comment
    lines giving the units, frame rate and axes."""
    scale = _scale(units)
    positions = motion.positions() * scale
    frames = np.arange(len(positions))
    header = "\n".join([
        "# hotstream motion export: Human3.6M-17 joint positions",
        f"# units: {units}",
        f"# fps: {motion.fps:g}",
        "# axes: x right, y up, z toward the camera (camera frame turned 180 deg about x); "
        + ("pelvis at the estimated root" if motion.has_root else "pelvis at the origin (no root estimate)"),
        ",".join(["frame", "time_s"] + [f"{name}_{axis}" for name in JOINT_NAMES for axis in "xyz"]),
    ])
    table = np.column_stack([frames, frames / motion.fps, positions.reshape(len(positions), -1)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, table, fmt=["%d"] + ["%.6f"] * (table.shape[1] - 1), delimiter=",", header=header, comments="")
    return path


def write_trc(path: str | Path, motion: Motion, units: str = "m") -> Path:
    """OpenSim's TRC marker file: one marker per joint, Y up, tab separated."""
    scale = _scale(units)
    positions = motion.positions() * scale
    n = len(positions)
    rate = f"{motion.fps:.6g}"
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{n}\t{NUM_JOINTS}\t{units}\t{rate}\t1\t{n}",
        "\t".join(["Frame#", "Time"] + [f"{name}\t\t" for name in JOINT_NAMES]).rstrip("\t"),
        "\t".join(["", ""] + [f"X{k}\tY{k}\tZ{k}" for k in range(1, NUM_JOINTS + 1)]),
        "",
    ]
    for frame in range(n):
        values = "\t".join(f"{v:.6f}" for v in positions[frame].ravel())
        lines.append(f"{frame + 1}\t{frame / motion.fps:.6f}\t{values}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
