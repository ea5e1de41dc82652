"""The shared joint-rotation solver (engines/humanoid.py): exact forward kinematics, the rest
pose, what the leaves get, and Unity's mirrored frame."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engines import humanoid
from engines.skeleton import JOINT_INDEX
from synthetic_motion import walking


def canonical_walk() -> np.ndarray:
    poses, root = walking(60, fps=30.0)
    return (poses + root[:, None]) * humanoid.CAMERA_TO_HUMANOID


def t_pose() -> np.ndarray:
    """A T-pose in the canonical frame, built from the rest directions."""
    p = np.zeros((1, 17, 3))
    j = JOINT_INDEX
    p[0, j["left_hip"]], p[0, j["right_hip"]], p[0, j["spine"]] = (0.1, 0, 0), (-0.1, 0, 0), (0, 0.25, 0)
    for bone, (joint, _, tip) in humanoid._SKELETON.items():
        if bone in humanoid.REST_DIRECTIONS:
            length = 0.3 if bone != "Neck" else 0.2
            p[0, j[tip]] = p[0, j[joint]] + length * np.array(humanoid.REST_DIRECTIONS[bone])
        if bone == "Spine":
            p[0, j["left_shoulder"]] = p[0, j["thorax"]] + (0.18, 0, 0)
            p[0, j["right_shoulder"]] = p[0, j["thorax"]] + (-0.18, 0, 0)
    return p


def test_forward_kinematics_gives_the_pose_back_exactly():
    positions = canonical_walk()
    solved = humanoid.solve(positions)
    got = humanoid.forward_kinematics(solved.local, solved.offsets)
    np.testing.assert_allclose(got, positions[:, humanoid.BONE_JOINT], atol=1e-9)
    quats = solved.local_quaternions()
    assert quats.shape == (60, len(humanoid.BONES), 4)
    np.testing.assert_allclose(Rotation.from_quat(quats.reshape(-1, 4)).as_matrix().reshape(solved.local.shape),
                               solved.local, atol=1e-9)


def test_the_rest_pose_has_identity_rotations_and_limbs_carry_the_motion():
    solved = humanoid.solve(t_pose())
    np.testing.assert_allclose(solved.local, np.broadcast_to(np.eye(3), solved.local.shape), atol=1e-9)
    walk = humanoid.solve(canonical_walk())
    for b, bone in enumerate(humanoid.BONES):
        parent = humanoid.BONE_PARENT[b]
        if parent >= 0 and humanoid.BONES[parent] in humanoid.REST_DIRECTIONS:  # below a one-child bone
            rest = np.array(humanoid.REST_DIRECTIONS[humanoid.BONES[parent]])
            offsets = walk.offsets[:, b]
            np.testing.assert_allclose(offsets / np.linalg.norm(offsets, axis=-1, keepdims=True),
                                       np.broadcast_to(rest, offsets.shape), atol=1e-9, err_msg=bone)
        if bone in ("LeftFoot", "RightFoot", "LeftHand", "RightHand"):  # the leaves follow their parent
            np.testing.assert_allclose(walk.local[:, b], np.broadcast_to(np.eye(3), walk.local[:, b].shape))


def test_unity_frame_is_the_mirror_image_and_kinematics_still_hold():
    positions = canonical_walk()
    solved = humanoid.solve(positions)
    offsets, quats = humanoid.to_unity(solved.offsets, solved.local_quaternions())
    local = Rotation.from_quat(quats.reshape(-1, 4)).as_matrix().reshape(solved.local.shape)
    got = humanoid.forward_kinematics(local, offsets)
    mirrored, _ = humanoid.to_unity(positions[:, humanoid.BONE_JOINT], quats)
    np.testing.assert_allclose(got, mirrored, atol=1e-9)
    left_hand = humanoid.BONES.index("LeftHand")
    assert np.all(humanoid.forward_kinematics(*_unity(t_pose()))[:, left_hand, 0] < 0)  # Unity: the left is -X


def _unity(positions):
    solved = humanoid.solve(positions)
    offsets, quats = humanoid.to_unity(solved.offsets, solved.local_quaternions())
    return Rotation.from_quat(quats.reshape(-1, 4)).as_matrix().reshape(solved.local.shape), offsets
