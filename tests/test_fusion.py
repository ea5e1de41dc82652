"""Fusing the lifter's 3D with MediaPipe's world landmarks: alignment, weighting, the smoothed
correction, fallback, and the live lifter stage and offline fusion giving the same output."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engines.fusion import LIFTER_WEIGHT, TAU_S, WorldFusion, fuse_world, world_to_h36m
from engines.metrics import acceleration_error, procrustes_align
from engines.skeleton import NUM_JOINTS
from stream.lifter import LifterStage
from stream.pose2d import Pose2D
from stream.record import FrameRecord
from tests.synthetic_motion import landmarks_from_h36m, walking


def test_world_landmarks_are_rotated_onto_the_lifter_and_averaged():
    truth, _ = walking(30)
    truth = truth - truth[:, :1]
    turn = Rotation.from_rotvec([0.2, 1.1, -0.3]).as_matrix()
    world = truth @ turn.T  # MediaPipe's frame differs from the camera's by a rotation
    np.testing.assert_allclose(procrustes_align(world, truth, scale=False), truth, atol=1e-6)
    lifted = truth + np.array([0.04, 0.0, 0.0]) * (np.arange(17) > 0)[:, None]  # 4 cm off in x
    for tau_s in (0.0, TAU_S, 1.0):  # a steady disagreement is halved whatever the smoothing
        fused = fuse_world(lifted, world, 30.0, tau_s=tau_s)
        assert fused.shape == (30, 17, 3) and fused.dtype == np.float32
        np.testing.assert_allclose(fused[:, 0], 0, atol=1e-7)  # pelvis at the origin
        error = np.linalg.norm(fused - truth, axis=-1).mean()
        assert error < 0.7 * np.linalg.norm(lifted - truth, axis=-1).mean()
    np.testing.assert_allclose(LIFTER_WEIGHT, 0.5)


def test_the_smoothed_correction_averages_out_mediapipes_jitter_but_follows_its_bias():
    fps = 60.0
    truth = walking(240, fps=fps)[0]
    truth = truth - truth[:, :1]
    world = truth + np.random.default_rng(0).normal(0, 0.02, truth.shape)  # 2 cm of jitter per frame
    world -= world[:, :1]
    bias = np.zeros(3)
    bias[2] = 0.1
    lifted = truth + bias * (np.arange(NUM_JOINTS) > 0)[:, None]  # smooth, 10 cm off in depth
    plain = fuse_world(lifted, world, fps, tau_s=0.0)
    smoothed = fuse_world(lifted, world, fps, tau_s=TAU_S)
    assert acceleration_error(smoothed, truth) < 0.6 * acceleration_error(plain, truth)
    # after the first frames the depth bias is halved either way
    depth = lambda poses: np.abs(poses[30:, 1:, 2] - truth[30:, 1:, 2]).mean()
    assert depth(smoothed) < 0.6 * depth(lifted) and abs(depth(smoothed) - depth(plain)) < 0.01
    with pytest.raises(ValueError, match="tau_s"):
        WorldFusion(tau_s=-1.0)


def test_missing_world_landmarks_keep_the_last_correction_and_the_lifters_pose_before_any():
    lifted = walking(10)[0]
    world = (lifted - lifted[:, :1]) @ Rotation.from_rotvec([0.0, 0.4, 0.1]).as_matrix().T
    world[5:, 1:, 2] += 0.03  # from frame 5 on, MediaPipe disagrees on depth by 3 cm
    world[[0, 1, 6]] = np.nan  # no world landmarks in frames 0, 1 and 6
    world[7] = 0.0  # all-zero landmarks are no landmarks either
    fused = fuse_world(lifted, world, 30.0, tau_s=0.0)
    np.testing.assert_array_equal(fused[[0, 1]], lifted[[0, 1]])  # nothing to fuse with yet
    np.testing.assert_allclose(fused[2:5], lifted[2:5] - lifted[2:5, :1], atol=1e-5)  # they agree up to a turn
    for missing in (6, 7):  # frame 5's correction, kept
        np.testing.assert_allclose(fused[missing] - (lifted[missing] - lifted[missing, :1]),
                                   fused[5] - (lifted[5] - lifted[5, :1]), atol=1e-6)
    mapped = world_to_h36m(landmarks_from_h36m(lifted))
    assert mapped.shape == (10, 17, 3) and np.abs(mapped[:, 0]).max() == 0
    np.testing.assert_array_equal(fuse_world(lifted, None, 30.0), lifted)


class PoseEngine:
    """Returns the target frame's 2D as x, y and a depth of 1: a lifter stand-in whose output the
    test can compute."""

    backend, window, lookahead = "stand-in", 3, 0

    def run(self, windows):
        target = windows[:, -1]
        return np.concatenate([target, np.ones_like(target[..., :1])], axis=-1)


def test_the_live_stage_fuses_each_person_as_offline_fusion_does():
    rng = np.random.default_rng(3)
    frames, dt = 12, 1 / 30
    pixels = rng.uniform(100, 500, (2, frames, 33, 2)).astype(np.float32)
    world = rng.normal(0, 0.3, (2, frames, 33, 3)).astype(np.float32)
    stage = LifterStage(PoseEngine(), root=False, fuse_world=True, max_people=2)
    out = []
    for seq in range(frames):
        rec = FrameRecord(seq, "cam", int(seq * dt * 1e9), (640, 480), t_s=seq * dt)
        rec.people = [Pose2D(pixels[p, seq], np.ones(33, np.float32), world[p, seq], (640, 480), person_id=p)
                      for p in (0, 1)]
        out += stage.process([rec])
    out += stage.finish()
    assert len(out) == 2 * frames
    for person in (0, 1):
        mine = [r for r in sorted(out, key=lambda r: r.seq) if r.pose2d.person_id == person]
        lifted = PoseEngine().run(np.stack([r.pose2d.h36m_normalized()[None] for r in mine]))
        world17 = world_to_h36m(np.stack([r.pose2d.world for r in mine]))  # as relabelled left/right
        offline = fuse_world(lifted - lifted[:, :1], world17, 1 / dt)
        np.testing.assert_allclose(np.stack([r.pose3d for r in mine]), offline, atol=1e-5)
        assert np.abs(offline - (lifted - lifted[:, :1])).max() > 0.05  # the fusion did something
