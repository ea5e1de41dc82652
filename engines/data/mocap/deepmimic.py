"""DeepMimic motion clips (as shipped in pybullet_data) -> H36M-17 by forward kinematics.

A DeepMimic humanoid3d frame is ``[duration, root position (3), rotations...]``: one rotation
per joint of ``pybullet_data/humanoid/humanoid.urdf`` in ``ROTATION_ORDER`` - a quaternion
``(w, x, y, z)`` for the root and spherical joints, an angle in radians about the urdf axis for
the revolute knees and elbows (the layout ``pybullet_envs/deep_mimic/env/
humanoid_pose_interpolator.py`` reads). Joint ``j`` is placed by ``p_j = p_parent + R_parent @ origin_j``
and turned by ``R_j = R_parent @ rot_j``, with every urdf origin rotation zero.

The urdf is drawn 4x larger than the motions (its legs are 3.3 units long; the walking root
height in the motion files is 0.85 m), so its offsets are scaled by 0.25, giving a 1.62 m
figure - the scale pybullet's own DeepMimic environment loads it at (``globalScaling=0.25``).
The humanoid faces +x with Y up and its right side at +z; positions are turned to Z up.

============== ==================================================================
H36M joint     urdf point (joint = origin of that link's frame)
============== ==================================================================
hips           right_hip, left_hip joints
knees          right_knee, left_knee joints
ankles         right_ankle, left_ankle joints
shoulders      right_shoulder, left_shoulder joints
elbows         right_elbow, left_elbow joints
wrists         right_wrist, left_wrist (fixed joints at the end of the forearms)
neck_nose      centre of the neck link's collision sphere (the head, 0.175 m above the neck)
head_top       top of that sphere along the neck link's +y (0.28 m above the neck)
============== ==================================================================
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from engines.windows import sample_times

from .assemble import assemble_h36m
from .axes import to_z_up

URDF_SCALE = 0.25
ROTATION_ORDER = ("root", "chest", "neck", "right_hip", "right_knee", "right_ankle",
                  "right_shoulder", "right_elbow", "left_hip", "left_knee", "left_ankle",
                  "left_shoulder", "left_elbow")
JOINT_POINTS = {
    "right_hip": "right_hip", "right_knee": "right_knee", "right_ankle": "right_ankle",
    "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
    "left_shoulder": "left_shoulder", "left_elbow": "left_elbow", "left_wrist": "left_wrist",
    "right_shoulder": "right_shoulder", "right_elbow": "right_elbow", "right_wrist": "right_wrist",
}
HEAD_LINK = "neck"


@dataclass
class UrdfJoint:
    name: str
    kind: str  # "fixed", "spherical" or "revolute"
    parent: str
    origin: np.ndarray  # (3,) offset in the parent link frame, urdf units
    axis: np.ndarray  # (3,) rotation axis of a revolute joint


@dataclass
class Humanoid:
    joints: dict[str, UrdfJoint]  # by child link name, parents before children
    head_centre: np.ndarray  # collision-sphere centre in the head link frame, urdf units
    head_radius: float


def _vector(element: ET.Element | None, attribute: str, default: str) -> np.ndarray:
    text = default if element is None else element.get(attribute, default)
    return np.array([float(v) for v in text.split()])


def read_humanoid(urdf: Path) -> Humanoid:
    """The kinematic tree and head sphere of the DeepMimic humanoid urdf."""
    # pybullet's copy ends in a stray NUL byte, which XML parsers reject.
    robot = ET.fromstring(Path(urdf).read_bytes().rstrip(b"\0\r\n\t "))
    joints = {}
    for joint in robot.iter("joint"):
        origin = joint.find("origin")
        if np.any(_vector(origin, "rpy", "0 0 0")):
            raise ValueError(f"{urdf}: joint {joint.get('name')} has a rotated origin; "
                             "this FK assumes none")
        joints[joint.find("child").get("link")] = UrdfJoint(
            name=joint.get("name"), kind=joint.get("type"), parent=joint.find("parent").get("link"),
            origin=_vector(origin, "xyz", "0 0 0"), axis=_vector(joint.find("axis"), "xyz", "1 0 0"))
    head = robot.find(f"link[@name='{HEAD_LINK}']/collision")
    sphere = None if head is None else head.find("geometry/sphere")
    if sphere is None:
        raise ValueError(f"{urdf}: link {HEAD_LINK!r} has no collision sphere to place the head")
    return Humanoid(joints, _vector(head.find("origin"), "xyz", "0 0 0"), float(sphere.get("radius")))


def _joint_rotations(humanoid: Humanoid, values: np.ndarray, times: np.ndarray,
                     new_times: np.ndarray) -> dict[str, Rotation]:
    """Split frame values into per-joint rotations, resampled to ``new_times``.

    Quaternions are slerped and hinge angles interpolated linearly, so every resampled pose is
    a valid pose of the rigid skeleton (interpolating positions would shorten bones when
    clips stored at 16-30 Hz are brought to 50 Hz).
    """
    rotations, column = {}, 0
    for name in ROTATION_ORDER:
        joint = humanoid.joints[name]
        if joint.kind == "revolute":
            angle = np.interp(new_times, times, values[:, column])
            rotations[name] = Rotation.from_rotvec(angle[:, None] * joint.axis)
            column += 1
        else:  # the root and spherical joints
            keys = Rotation.from_quat(values[:, column:column + 4], scalar_first=True)
            rotations[name] = Slerp(times, keys)(new_times)
            column += 4
    if column != values.shape[1]:
        raise ValueError(f"DeepMimic frames carry {values.shape[1]} rotation values, "
                         f"the humanoid layout needs {column}")
    return rotations


def load_motion(path: Path, humanoid: Humanoid, fps: float) -> tuple[np.ndarray, float, int]:
    """Read a DeepMimic motion -> ((T, 17, 3) metres Z-up at ``fps``, source fps, source frames).

    Frames carry their own durations (some clips mix them), so the source fps reported is the
    median rate.
    """
    frames = np.asarray(json.loads(Path(path).read_text())["Frames"], dtype=np.float64)
    if frames.ndim != 2 or len(frames) < 2:
        raise ValueError(f"{path}: expected a list of at least 2 equal-length frames")
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    new_times = sample_times(times, fps)
    local = _joint_rotations(humanoid, frames[:, 4:], times, new_times)
    world_rotation = {"root": local["root"]}
    world_position = {"root": np.stack([np.interp(new_times, times, frames[:, 1 + axis])
                                        for axis in range(3)], axis=-1)}
    for link, joint in humanoid.joints.items():  # urdf order lists parents before children
        if link in world_position:
            continue
        parent_rotation = world_rotation[joint.parent]
        world_position[link] = (world_position[joint.parent]
                                + parent_rotation.apply(joint.origin * URDF_SCALE))
        world_rotation[link] = parent_rotation * local[link] if link in local else parent_rotation
    joints = {h36m: world_position[link] for h36m, link in JOINT_POINTS.items()}
    head_up = world_rotation[HEAD_LINK].apply([0.0, 1.0, 0.0])
    joints["neck_nose"] = world_position[HEAD_LINK] + world_rotation[HEAD_LINK].apply(
        humanoid.head_centre * URDF_SCALE)
    joints["head_top"] = joints["neck_nose"] + head_up * humanoid.head_radius * URDF_SCALE
    positions = assemble_h36m({name: to_z_up(track, "y") for name, track in joints.items()})
    return positions, float(1.0 / np.median(frames[:-1, 0])), len(frames)
