"""Human3.6M loader on a small synthetic file written exactly in VideoPose3D's npz format."""
from __future__ import annotations

import os

import numpy as np
import pytest

from engines.data import h36m
from engines.data.camera import quaternion_to_matrix, world_to_camera
from engines.skeleton import JOINT_INDEX, LEFT_JOINTS, RIGHT_JOINTS


def _standing_person_32(frames: int, rng) -> np.ndarray:
    """(T, 32, 3) metres around the capture-volume centre, Z up; the 17 kept joints form a body."""
    body17 = np.zeros((17, 3))
    for name, xyz in {"pelvis": (0, 0, 0.95), "right_hip": (-0.12, 0, 0.93), "right_knee": (-0.12, 0, 0.5),
                      "right_ankle": (-0.12, 0, 0.08), "left_hip": (0.12, 0, 0.93), "left_knee": (0.12, 0, 0.5),
                      "left_ankle": (0.12, 0, 0.08), "spine": (0, 0, 1.2), "thorax": (0, 0, 1.45),
                      "neck_nose": (0, -0.05, 1.6), "head_top": (0, 0, 1.75), "left_shoulder": (0.18, 0, 1.45),
                      "left_elbow": (0.2, 0, 1.18), "left_wrist": (0.22, 0, 0.95), "right_shoulder": (-0.18, 0, 1.45),
                      "right_elbow": (-0.2, 0, 1.18), "right_wrist": (-0.22, 0, 0.95)}.items():
        body17[JOINT_INDEX[name]] = xyz
    poses = np.zeros((frames, 32, 3), dtype=np.float32)
    poses[:, list(h36m.KEPT_JOINTS)] = body17 + rng.normal(0, 0.01, (frames, 17, 3))
    poses[:, list(h36m.REMOVED_JOINTS)] = 9.0  # must never reach the 17-joint output
    return poses


@pytest.fixture()
def h36m_files(tmp_path):
    rng = np.random.default_rng(0)
    poses = {s: {"Walking 1": _standing_person_32(12, rng), "Eating": _standing_person_32(10, rng)}
             for s in ("S9", "S11")}
    keypoints = {}
    for subject, actions in poses.items():
        keypoints[subject] = {}
        for action, world in actions.items():
            cams = h36m.cameras(subject)
            kept = world[:, list(h36m.KEPT_JOINTS)]
            # Detections one frame shorter than the mocap, as happens in the real files.
            keypoints[subject][action] = [c.project(c.to_camera(kept))[:-1] for c in cams]
    path_3d, path_2d = tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(path_3d, positions_3d=poses)
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [list(LEFT_JOINTS), list(RIGHT_JOINTS)]}
    np.savez_compressed(path_2d, positions_2d=keypoints, metadata=metadata)
    return path_3d, path_2d, poses


def test_loads_17_joints_and_trims_to_the_2d_length(h36m_files):
    path_3d, path_2d, poses = h36m_files
    poses_3d = h36m.load_poses_3d(path_3d)
    assert poses_3d["S9"]["Eating"].shape == (10, 17, 3)
    np.testing.assert_allclose(poses_3d["S9"]["Eating"], poses["S9"]["Eating"][:, list(h36m.KEPT_JOINTS)])
    seqs = list(h36m.sequences(poses_3d, h36m.load_keypoints_2d(path_2d)))
    assert len(seqs) == 2 * 2 * 4
    assert {len(s.pose2d) for s in seqs if s.action == "Eating"} == {9}
    first = seqs[0]
    np.testing.assert_allclose(first.target3d[:, 0], 0.0, atol=1e-6)


def test_cameras_see_the_subject_upright_in_front(h36m_files):
    path_3d, path_2d, _ = h36m_files
    seqs = list(h36m.sequences(h36m.load_poses_3d(path_3d), h36m.load_keypoints_2d(path_2d)))
    for seq in seqs:
        cam = h36m.cameras(seq.subject)[seq.camera]
        world = h36m.load_poses_3d(path_3d)[seq.subject][seq.action][: len(seq.pose2d)]
        depth = cam.to_camera(world)[..., 2]
        assert (depth > 3).all() and (depth < 8).all()  # cameras stand ~4-6 m from the centre
        # y down: the head top is above the ankles; the 2D lies in the image after normalisation.
        assert (seq.target3d[:, JOINT_INDEX["head_top"], 1] < seq.target3d[:, JOINT_INDEX["left_ankle"], 1]).all()
        assert np.abs(seq.pose2d).max() < 1.0


def test_quaternion_camera_matches_videopose3d_convention():
    cam = h36m.cameras("S1")[0]
    rotation = quaternion_to_matrix(cam.orientation)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
    # The camera centre maps to the origin, and a point one metre along the camera's z axis
    # (third column of the camera-to-world rotation) lands at depth 1.
    ahead = cam.translation + rotation[:, 2]
    np.testing.assert_allclose(world_to_camera(np.stack([cam.translation, ahead])[None], cam.orientation,
                                               cam.translation)[0], [[0, 0, 0], [0, 0, 1]], atol=1e-6)
    assert len(h36m.cameras("S11")) == 4 and h36m.cameras("S9")[2].width == 1000
    with pytest.raises(ValueError, match="no camera calibration"):
        h36m.cameras("S2")


def test_wrong_layout_and_missing_file_are_clear_errors(tmp_path):
    bad = tmp_path / "data_2d_h36m_coco.npz"
    np.savez_compressed(bad, positions_2d={}, metadata={"num_joints": 18, "keypoints_symmetry": [[], []]})
    with pytest.raises(ValueError, match="18 joints"):
        h36m.load_keypoints_2d(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        h36m.load_poses_3d(tmp_path / "absent.npz")


def test_pickled_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "data_3d_h36m.npz"
    np.savez(path, positions_3d=np.array(Exploit(), dtype=object))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        h36m.load_poses_3d(path)
