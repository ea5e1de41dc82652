"""Export H36M-17 motion for mocap tools: BVH (a skeleton with joint rotations), CSV and TRC (markers).

Input is what the lifter produces: (N, 17, 3) root-relative poses in metres, camera coordinates
(x right, y down, z forward), with an optional (N, 3) pelvis position from the camera. Every
format is written in one Y-up frame: the camera frame turned 180 degrees about x, i.e.
(x, y, z)_out = (x, -y, -z)_camera, so y is up and z points from the scene toward the camera.
The pelvis sits at the root estimate where there is one, else at the origin. The BVH skeleton
is the humanoid of :mod:`engines.humanoid` (that frame is this one), and so are its rotations; in
short (docs/motion-export.md):

* Hierarchy: Unity's humanoid bone names, ``Hips`` (pelvis) with the legs and ``Spine`` ->
  ``Chest`` (thorax) carrying the arms and ``Neck`` (at the thorax, zero offset) -> ``Head``
  (nose). The four leaves (feet and hands at the ankles and wrists) and the head top are End
  Sites: nothing measured says how a foot or hand is turned, so no rotation is invented for them.
* Rest pose: :mod:`engines.humanoid`'s T-pose, with the clip's median bone lengths (a rigid
  skeleton) and its median shape of the hips and the shoulders.
* Rotations: :func:`engines.humanoid.solve`. Channels are ``Zrotation Xrotation Yrotation``
  (R = Rz Rx Ry), in degrees, unwrapped over time.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engines import humanoid
from engines.skeleton import BONES, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, bone_lengths
from engines.stream_rows import rows_of_stream

UNITS = {"m": 1.0, "cm": 100.0, "mm": 1000.0}
# A pelvis moving this far between two frames is not a person walking (15 m/s at 30 fps): the
# tracker switched people or the root fit failed.
ROOT_JUMP_M = 0.5
CAMERA_TO_Y_UP = humanoid.CAMERA_TO_HUMANOID  # a proper rotation: 180 degrees about x
EULER_ORDER = "ZXY"
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
# BVH joints: the humanoid bones that turn (engines/humanoid.py), parents first; the four leaves
# (feet, hands) and the head top are End Sites.
BVH_BONES = [b for b, bone in enumerate(humanoid.BONES) if bone in humanoid.REST_DIRECTIONS or humanoid.BONE_PARENT[b] < 0
             or bone == "Chest"]
BVH_NAMES = {}  # H36M joint name -> the BVH joint at it (the first, where two share a joint)
for _b in BVH_BONES:
    BVH_NAMES.setdefault(JOINT_NAMES[humanoid.BONE_JOINT[_b]], humanoid.BONES[_b])
_CHILD_BONES = {b: [c for c in range(len(humanoid.BONES)) if humanoid.BONE_PARENT[c] == b] for b in BVH_BONES}
HEAD, HEAD_TOP = humanoid.BONES.index("Head"), JOINT_INDEX["head_top"]


@dataclass
class BvhSkeleton:
    """Rest offsets (parent -> bone, metres, Y up) of every humanoid bone, and of the head top."""

    offsets: np.ndarray              # (B, 3), humanoid.BONES order; the hips' row is zero
    head_top: np.ndarray             # (3,)

    @classmethod
    def fit(cls, solved: humanoid.HumanoidPose, positions: np.ndarray) -> "BvhSkeleton":
        """The clip's median offsets: below a one-child bone its rest direction at the median
        bone length; below the hips and chest their median shape."""
        direction = np.median(solved.offsets, axis=0)
        length = np.median(np.linalg.norm(solved.offsets, axis=-1), axis=0)
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        offsets = np.divide(direction, norm, out=np.zeros_like(direction), where=norm > 0) * length[:, None]
        offsets[0] = 0.0
        head = np.median(np.linalg.norm(positions[:, HEAD_TOP] - positions[:, JOINT_INDEX["neck_nose"]], axis=-1))
        return cls(offsets, np.array(humanoid.REST_DIRECTIONS["Head"]) * head)


def write_bvh(path: str | Path, motion: Motion, units: str = "m") -> Path:
    """Write ``motion`` as BVH; returns the path."""
    scale = _scale(units)
    positions = motion.positions()
    solved = humanoid.solve(positions)
    skeleton = BvhSkeleton.fit(solved, positions)
    columns = [positions[:, 0] * scale]
    for bone in _depth_first():
        with warnings.catch_warnings():  # at gimbal lock scipy warns, but the angles still give the rotation
            warnings.simplefilter("ignore", UserWarning)
            angles = Rotation.from_matrix(solved.local[:, bone]).as_euler(EULER_ORDER)
        columns.append(np.degrees(np.unwrap(angles, axis=0)))
    lines = ["HIERARCHY", *_hierarchy(0, skeleton.offsets * scale, skeleton.head_top * scale, 0), "MOTION",
             f"Frames: {len(positions)}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    values = np.concatenate(columns, axis=1)
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _depth_first(bone: int = 0) -> list[int]:
    return [bone] + [b for child in _CHILD_BONES[bone] if child in _CHILD_BONES for b in _depth_first(child)]


def _hierarchy(bone: int, offsets: np.ndarray, head_top: np.ndarray, depth: int) -> list[str]:
    pad, inner = "\t" * depth, "\t" * (depth + 1)
    name = humanoid.BONES[bone]
    if humanoid.BONE_PARENT[bone] < 0:
        lines = [f"{pad}ROOT {name}", f"{pad}{{", f"{inner}OFFSET {_xyz(offsets[bone])}",
                 f"{inner}CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"]
    else:
        lines = [f"{pad}JOINT {name}", f"{pad}{{", f"{inner}OFFSET {_xyz(offsets[bone])}",
                 f"{inner}CHANNELS 3 Zrotation Xrotation Yrotation"]
    for child in _CHILD_BONES[bone]:
        if child in _CHILD_BONES:
            lines += _hierarchy(child, offsets, head_top, depth + 1)
        else:
            lines += _end_site(offsets[child], depth + 1)
    if bone == HEAD:
        lines += _end_site(head_top, depth + 1)
    return lines + [f"{pad}}}"]


def _end_site(offset: np.ndarray, depth: int) -> list[str]:
    pad = "\t" * depth
    return [f"{pad}End Site", f"{pad}{{", f"{pad}\tOFFSET {_xyz(offset)}", f"{pad}}}"]


def _xyz(offset: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in np.where(np.abs(offset) < 5e-7, 0.0, offset))  # no "-0.000000"


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
