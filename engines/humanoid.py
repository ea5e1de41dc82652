"""Joint rotations of an H36M-17 pose on a humanoid skeleton: the one solver behind the BVH export
(:mod:`engines.motion_export`) and the live sinks that speak bones (VMC, ROS tf).

**Frame.** The canonical humanoid frame: right-handed, metres, Y up, the person facing +Z and
their left toward +X. A camera-frame pose (x right, y down, z forward) maps to it by a half turn
about x, ``(x, -y, -z)`` (:data:`CAMERA_TO_HUMANOID`), so a person facing the camera faces +Z.
Unity's left-handed frame is this one mirrored in x (:func:`to_unity`).

**Skeleton.** :data:`BONES`, Unity's humanoid bone names, each at an H36M joint, in an order where
every parent comes first. ``Neck`` is the one bone without a joint of its own: it sits at the
thorax, with the thorax-to-nose bone, so that ``Chest`` can be turned by the shoulders and spine
alone. The head top ends ``Head``.

**Rest pose.** A T-pose: legs straight down, spine, neck and head up (the neck and head leaning
forward as the median of the project's mocap clips does, 19 and 10 degrees), arms straight out
sideways. All local rotations are identity in it.

**Rotations.** ``Hips`` and ``Chest`` get the frame their joints span: x from the right hip (or
shoulder) to the left one, y up along the spine made orthogonal to x, z = x × y. Every other bone
with a child gets the smallest rotation, in its parent's frame, turning its rest direction onto
the observed one: no twist about the bone, which nothing measured gives. The four leaves
(``LeftFoot``, ``RightFoot``, ``LeftHand``, ``RightHand``: the ankles and wrists) get the identity
relative to their parent: nothing measured says how a foot or a hand is turned.

**Offsets.** Each bone's position in its parent's rotated frame, so forward kinematics of the
offsets and local rotations from the hips gives the pose back exactly. Below a bone with one
child the offset is the rest direction times the bone's length; below ``Hips`` and ``Chest`` it is
where the hip, spine or shoulder really is in that frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from engines.skeleton import JOINT_INDEX

CAMERA_TO_HUMANOID = np.array([1.0, -1.0, -1.0])  # a proper rotation: half a turn about x

# name: (H36M joint the bone sits at, parent bone, H36M joint its direction points to or None)
_SKELETON = {
    "Hips": ("pelvis", None, None),
    "LeftUpperLeg": ("left_hip", "Hips", "left_knee"),
    "LeftLowerLeg": ("left_knee", "LeftUpperLeg", "left_ankle"),
    "LeftFoot": ("left_ankle", "LeftLowerLeg", None),
    "RightUpperLeg": ("right_hip", "Hips", "right_knee"),
    "RightLowerLeg": ("right_knee", "RightUpperLeg", "right_ankle"),
    "RightFoot": ("right_ankle", "RightLowerLeg", None),
    "Spine": ("spine", "Hips", "thorax"),
    "Chest": ("thorax", "Spine", None),
    "Neck": ("thorax", "Chest", "neck_nose"),
    "Head": ("neck_nose", "Neck", "head_top"),
    "LeftUpperArm": ("left_shoulder", "Chest", "left_elbow"),
    "LeftLowerArm": ("left_elbow", "LeftUpperArm", "left_wrist"),
    "LeftHand": ("left_wrist", "LeftLowerArm", None),
    "RightUpperArm": ("right_shoulder", "Chest", "right_elbow"),
    "RightLowerArm": ("right_elbow", "RightUpperArm", "right_wrist"),
    "RightHand": ("right_wrist", "RightLowerArm", None),
}
BONES = tuple(_SKELETON)
BONE_JOINT = np.array([JOINT_INDEX[joint] for joint, _, _ in _SKELETON.values()])
BONE_PARENT = np.array([-1 if parent is None else BONES.index(parent) for _, parent, _ in _SKELETON.values()])
_TIP = {bone: JOINT_INDEX[tip] for bone, (_, _, tip) in _SKELETON.items() if tip is not None}
# The bones whose frame their joints span: (right joint, left joint, spine from, spine to).
_FRAMES = {"Hips": ("right_hip", "left_hip", "pelvis", "spine"),
           "Chest": ("right_shoulder", "left_shoulder", "spine", "thorax")}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(np.sum(v * v, axis=-1, keepdims=True))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` of (..., 3) vectors, without its axis shuffling (a pose is solved per frame)."""
    a, b = np.broadcast_arrays(a, b)
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


_DOWN, _UP = (0.0, -1.0, 0.0), (0.0, 1.0, 0.0)
REST_DIRECTIONS = {  # bone -> direction to its tip in the rest pose
    "LeftUpperLeg": _DOWN, "LeftLowerLeg": _DOWN, "RightUpperLeg": _DOWN, "RightLowerLeg": _DOWN,
    "Spine": _UP, "Neck": tuple(_unit(np.array([0.0, 0.943, 0.333]))), "Head": tuple(_unit(np.array([0.0, 0.984, 0.178]))),
    "LeftUpperArm": (1.0, 0.0, 0.0), "LeftLowerArm": (1.0, 0.0, 0.0),
    "RightUpperArm": (-1.0, 0.0, 0.0), "RightLowerArm": (-1.0, 0.0, 0.0),
}


@dataclass
class HumanoidPose:
    """Per frame and bone (:data:`BONES` order): rotation matrices relative to the parent
    (``local``) and to the frame (``world``), and offsets from the parent in its rotated frame."""

    local: np.ndarray    # (N, B, 3, 3)
    world: np.ndarray    # (N, B, 3, 3)
    offsets: np.ndarray  # (N, B, 3); the hips' row is its position

    def local_quaternions(self) -> np.ndarray:
        """(N, B, 4) as x, y, z, w."""
        n, b = self.local.shape[:2]
        return Rotation.from_matrix(self.local.reshape(-1, 3, 3)).as_quat().reshape(n, b, 4)


def _depth(b: int) -> int:
    return 0 if BONE_PARENT[b] < 0 else 1 + _depth(BONE_PARENT[b])


# Bones by depth: a level's parents are all solved before it, so each level is one batch.
_LEVELS = [[b for b in range(len(BONES)) if _depth(b) == d] for d in range(1 + max(map(_depth, range(len(BONES)))))]
_REST = np.array([REST_DIRECTIONS.get(bone, (0.0, 1.0, 0.0)) for bone in BONES])


def solve(positions: np.ndarray) -> HumanoidPose:
    """The rotations and offsets of (N, 17, 3) joint positions in the canonical frame; see the
    module docstring."""
    p = np.asarray(positions, dtype=np.float64)
    n = len(p)
    world = np.tile(np.eye(3), (n, len(BONES), 1, 1))
    local = world.copy()
    for level in _LEVELS:
        frames = [b for b in level if BONES[b] in _FRAMES]
        tips = [b for b in level if BONES[b] in _TIP]
        leaves = [b for b in level if b not in frames and b not in tips]
        parent = lambda bones: world[:, BONE_PARENT[bones]] if bones[0] else np.broadcast_to(np.eye(3), (n, 1, 3, 3))  # noqa: E731
        for b in frames:
            right, left, low, high = (JOINT_INDEX[j] for j in _FRAMES[BONES[b]])
            world[:, b] = _frame(p[:, left] - p[:, right], p[:, high] - p[:, low])
            local[:, b] = parent([b])[:, 0].transpose(0, 2, 1) @ world[:, b]
        if tips:
            parents = parent(tips)
            observed = ((p[:, [_TIP[BONES[b]] for b in tips]] - p[:, BONE_JOINT[tips]])[..., None, :] @ parents)[..., 0, :]
            local[:, tips] = shortest_arc(_REST[tips], observed)
            world[:, tips] = parents @ local[:, tips]
        if leaves:  # they follow their parent
            world[:, leaves] = parent(leaves)
    offsets = np.zeros((n, len(BONES), 3))
    offsets[:, 0] = p[:, BONE_JOINT[0]]
    relative = p[:, BONE_JOINT[1:]] - p[:, BONE_JOINT[BONE_PARENT[1:]]]
    offsets[:, 1:] = (relative[..., None, :] @ world[:, BONE_PARENT[1:]])[..., 0, :]  # parent_world^T @ relative
    return HumanoidPose(local, world, offsets)


def forward_kinematics(local: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Bone positions (N, B, 3) from local rotations (N, B, 3, 3) and offsets (N, B, 3): the
    inverse of :func:`solve` (``[:, i]`` is the position of joint ``BONE_JOINT[i]``)."""
    n, count = offsets.shape[:2]
    world = np.zeros((n, count, 3, 3))
    out = np.zeros((n, count, 3))
    for b in range(count):
        parent = BONE_PARENT[b]
        if parent < 0:
            world[:, b], out[:, b] = local[:, b], offsets[:, b]
        else:
            world[:, b] = world[:, parent] @ local[:, b]
            out[:, b] = out[:, parent] + np.einsum("nij,nj->ni", world[:, parent], offsets[:, b])
    return out


def _frame(right_to_left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations whose columns are x (toward the left), y (up, orthogonal to x), z = x × y."""
    x = _unit(right_to_left)
    y = _unit(up - np.sum(up * x, axis=-1, keepdims=True) * x)
    return np.stack([x, y, _cross(x, y)], axis=-1)


def shortest_arc(rest: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(..., 3, 3): per row of ``targets`` (..., 3), the smallest rotation turning the direction
    ``rest`` ((3,), or one per row) onto it (half a turn about an axis perpendicular to ``rest``
    when they are opposite).

    Rodrigues' formula for unit a, b: R = I + [v]x + [v]x^2 / (1 + a.b), with v = a x b.
    """
    b = _unit(np.asarray(targets, dtype=np.float64))
    a = np.broadcast_to(_unit(np.asarray(rest, dtype=np.float64)), b.shape)
    v = _cross(a, b)
    cos = np.sum(a * b, axis=-1)
    k = np.zeros(b.shape + (3,))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k -= np.swapaxes(k, -1, -2)
    opposite = cos < -1 + 1e-9
    out = np.eye(3) + k + (k @ k) / np.where(opposite, 1.0, 1 + cos)[..., None, None]
    for index in zip(*np.nonzero(opposite)):  # half a turn about any axis perpendicular to a
        axis = _unit(_cross(a[index], np.eye(3)[np.argmin(np.abs(a[index]))]))
        out[index] = 2 * np.outer(axis, axis) - np.eye(3)
    return out


def to_unity(positions: np.ndarray, quaternions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical-frame positions (..., 3) and x, y, z, w quaternions (..., 4) in Unity's left-handed
    frame (Y up, the person facing +Z, their left toward -X): the frame mirrored in x."""
    return positions * [-1.0, 1.0, 1.0], quaternions * [1.0, -1.0, -1.0, 1.0]
