"""Pose metrics against values worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from engines import metrics


def _pose(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, (17, 3))


def test_mpjpe_by_hand():
    target = np.zeros((2, 3))
    pred = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]])  # errors 5 and 1
    assert metrics.mpjpe(pred, target) == pytest.approx(3.0)


def test_p_mpjpe_removes_rotation_translation_and_scale():
    target = _pose()
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pred = 1.3 * target @ rot.T + [0.2, -0.1, 0.5]
    assert metrics.mpjpe(pred, target) > 0.1
    assert metrics.p_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-9)


def test_p_mpjpe_never_reflects():
    target = _pose(1)
    mirrored = target * [-1, 1, 1]  # a reflection is not a similarity transform with a rotation
    assert metrics.p_mpjpe(mirrored, target) > 0.05


def test_p_mpjpe_by_hand_for_three_points():
    target = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    pred = np.array([[0.0, 0, 0], [1, 0.3, 0], [2, 0, 0]])
    # Centred, pred is (-1, -0.1), (0, 0.2), (1, -0.1) and target (-1, 0), (0, 0), (1, 0): the best
    # rotation is the identity, the least-squares scale is 2 / (2 + 0.01 + 0.04 + 0.01).
    scale = 2 / 2.06
    expected = np.array([[1 - scale, -0.1 * scale, 0], [1, 0.2 * scale, 0], [1 + scale, -0.1 * scale, 0]])
    np.testing.assert_allclose(metrics.procrustes_align(pred, target), expected, atol=1e-9)
    errors = np.linalg.norm(expected - target, axis=-1)
    assert metrics.p_mpjpe(pred, target) == pytest.approx(errors.mean())


def test_n_mpjpe_removes_scale_only():
    target = _pose(2)
    assert metrics.n_mpjpe(0.5 * target, target) == pytest.approx(0.0, abs=1e-12)
    assert metrics.n_mpjpe(target + 0.1, target) > 0.01


def test_velocity_and_acceleration_errors_by_hand():
    t = np.arange(5, dtype=float)
    target = np.zeros((5, 1, 3))
    target[:, 0, 0] = t  # constant velocity 1 per frame
    pred = np.zeros((5, 1, 3))
    pred[:, 0, 0] = t ** 2 / 2  # velocity 0.5, 1.5, 2.5, 3.5; acceleration 1
    assert metrics.mpjve(pred, target) == pytest.approx(np.mean([0.5, 0.5, 1.5, 2.5]))
    assert metrics.acceleration_error(pred, target) == pytest.approx(1.0)


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.mpjpe(np.zeros((17, 3)), np.zeros((16, 3)))
