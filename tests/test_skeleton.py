"""The H36M-17 conventions and the MediaPipe-33 -> H36M-17 mapping, on hand-made landmarks."""
import numpy as np
import pytest

from engines.skeleton import (BONES, FLIP_PERMUTATION, JOINT_INDEX, JOINT_NAMES, MP, NUM_JOINTS, PARENTS,
                              mediapipe_scores_to_h36m, mediapipe_to_h36m,
                              normalize_screen)


def landmarks(dim: int = 2) -> np.ndarray:
    """33 distinct landmarks: landmark i sits at (i, 100 + 2i, ...)."""
    i = np.arange(33, dtype=np.float32)
    return np.stack([i, 100 + 2 * i, 50 - i][:dim], axis=-1)


def test_joint_tables_are_consistent():
    assert len(JOINT_NAMES) == len(PARENTS) == NUM_JOINTS == 17
    assert PARENTS[0] == -1 and all(0 <= p < c for c, p in enumerate(PARENTS) if c)
    assert len(BONES) == 16
    flip = np.array(FLIP_PERMUTATION)
    assert (flip[flip] == np.arange(17)).all()
    assert JOINT_NAMES[flip[JOINT_INDEX["left_wrist"]]] == "right_wrist"


@pytest.mark.parametrize("dim", [2, 3])
def test_direct_joints_are_copied(dim):
    lm = landmarks(dim)
    out = mediapipe_to_h36m(lm)
    for h36m, mp in [("right_hip", "right_hip"), ("left_knee", "left_knee"), ("neck_nose", "nose"),
                     ("right_wrist", "right_wrist"), ("left_shoulder", "left_shoulder")]:
        np.testing.assert_array_equal(out[JOINT_INDEX[h36m]], lm[MP[mp]])


def test_derived_joints_follow_the_documented_formulas():
    lm = landmarks(2)
    out = mediapipe_to_h36m(lm)

    def mid(a, b):
        return (lm[MP[a]] + lm[MP[b]]) / 2

    pelvis, thorax = mid("left_hip", "right_hip"), mid("left_shoulder", "right_shoulder")
    np.testing.assert_allclose(out[JOINT_INDEX["pelvis"]], pelvis)
    np.testing.assert_allclose(out[JOINT_INDEX["thorax"]], thorax)
    np.testing.assert_allclose(out[JOINT_INDEX["spine"]], (pelvis + thorax) / 2)
    head_top = mid("left_ear", "right_ear") + 1.7 * (mid("left_eye", "right_eye") - mid("mouth_left", "mouth_right"))
    np.testing.assert_allclose(out[JOINT_INDEX["head_top"]], head_top, rtol=1e-6)


def test_head_top_is_above_the_ears_on_an_upright_face():
    lm = np.zeros((33, 2), np.float32)
    for name, y in [("left_ear", 100), ("right_ear", 100), ("left_eye", 95), ("right_eye", 95),
                    ("mouth_left", 115), ("mouth_right", 115)]:
        lm[MP[name]] = (50, y)
    head_top = mediapipe_to_h36m(lm)[JOINT_INDEX["head_top"]]
    np.testing.assert_allclose(head_top, (50, 100 - 1.7 * 20))  # y grows downwards in images


def test_batch_dimensions_and_bad_shapes():
    batch = np.stack([landmarks(2), landmarks(2) + 1])[None]  # (1, 2, 33, 2)
    out = mediapipe_to_h36m(batch)
    assert out.shape == (1, 2, 17, 2)
    np.testing.assert_allclose(out[0, 1], mediapipe_to_h36m(landmarks(2)) + 1, rtol=1e-6)
    with pytest.raises(ValueError, match="33"):
        mediapipe_to_h36m(np.zeros((17, 2)))


def test_scores_take_the_least_confident_source_landmark():
    vis = np.linspace(0.0, 1.0, 33, dtype=np.float32)
    scores = mediapipe_scores_to_h36m(vis)
    assert scores.shape == (17,)
    assert scores[JOINT_INDEX["left_knee"]] == vis[MP["left_knee"]]
    assert scores[JOINT_INDEX["pelvis"]] == min(vis[MP["left_hip"]], vis[MP["right_hip"]])
    assert scores[JOINT_INDEX["spine"]] == min(vis[MP[n]] for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder"))
    assert scores[JOINT_INDEX["head_top"]] == vis[MP["left_eye"]]  # the smallest index, so the least visible here


def test_normalize_screen_keeps_aspect():
    w, h = 640, 360
    corners = np.array([[0, 0], [w, h], [w / 2, h / 2]], np.float32)
    uv = normalize_screen(corners, w, h)
    np.testing.assert_allclose(uv, [[-1, -h / w], [1, h / w], [0, 0]], atol=1e-6)
