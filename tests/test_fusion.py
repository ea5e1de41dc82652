"""Fusing the lifter's 3D with MediaPipe's world landmarks: alignment, weighting, fallback, and the
live lifter stage and offline lifting giving the same output."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engines.fusion import LIFTER_WEIGHT, fuse_world, world_to_h36m
from engines.metrics import procrustes_align
from tests.synthetic_motion import landmarks_from_h36m, walking


def test_world_landmarks_are_rotated_onto_the_lifter_and_averaged():
    truth, _ = walking(30)
    truth = truth - truth[:, :1]
    turn = Rotation.from_rotvec([0.2, 1.1, -0.3]).as_matrix()
    world = truth @ turn.T  # MediaPipe's frame differs from the camera's by a rotation
    np.testing.assert_allclose(procrustes_align(world, truth, scale=False), truth, atol=1e-6)
    lifted = truth + np.array([0.04, 0.0, 0.0]) * (np.arange(17) > 0)[:, None]  # 4 cm off in x
    fused = fuse_world(lifted, world)
    assert fused.shape == (30, 17, 3) and fused.dtype == np.float32
    np.testing.assert_allclose(fused[:, 0], 0, atol=1e-7)  # pelvis at the origin
    assert np.linalg.norm(fused - truth, axis=-1).mean() < 0.7 * np.linalg.norm(lifted - truth, axis=-1).mean()
    np.testing.assert_allclose(LIFTER_WEIGHT, 0.5)


def test_missing_world_landmarks_keep_the_lifters_pose():
    lifted = walking(10)[0]
    world = (lifted - lifted[:, :1]) @ Rotation.from_rotvec([0.0, 0.4, 0.1]).as_matrix().T
    world[3] = np.nan  # no world landmarks in frame 3
    world[5] = 0.0  # all-zero landmarks are no landmarks either
    fused = fuse_world(lifted, world)
    np.testing.assert_array_equal(fused[[3, 5]], lifted[[3, 5]] - lifted[[3, 5], :1])
    np.testing.assert_allclose(fused[4], lifted[4] - lifted[4, :1], atol=1e-5)  # they agree up to a turn
    mapped = world_to_h36m(landmarks_from_h36m(lifted))
    assert mapped.shape == (10, 17, 3) and np.abs(mapped[:, 0]).max() == 0
    np.testing.assert_array_equal(fuse_world(lifted, None), lifted)
