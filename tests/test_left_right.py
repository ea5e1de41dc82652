"""Left/right repair on the real clip: MediaPipe on the first 90 frames of assets/sample.mp4, through
the lifter stage (repair, ring, real ONNX Runtime engine), checked against frames labelled by
looking at them.

The labels: in frames 6-89 the man on the box faces the camera (face, shirt print and shoes seen
in the full-size source video), so his left limbs are on the image's right. Drawn with left in
one colour and right in another, MediaPipe has both arms and legs the wrong way round in frames
9-12, 16-18, 33-34, 47 and 67-70, and right in 22-26, 29-31, 40-45, 50-54 and 76-80.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.runtime import load_engine
from engines.skeleton import JOINT_INDEX
from stream.lifter import LifterStage
from stream.pose2d import Pose2D, create_pose2d
from stream.record import FrameRecord
from engines.left_right import ARMS, LEGS, LeftRightRepair, swap_index

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"
SWAPPED_BY_MEDIAPIPE = [9, 10, 11, 12, 16, 17, 18, 33, 34, 47, 67, 68, 69, 70]
RIGHT_BY_MEDIAPIPE = [*range(22, 27), *range(29, 32), *range(40, 46), *range(50, 55), *range(76, 81)]
SIDES = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")


@pytest.fixture(scope="module")
def poses():
    """MediaPipe's pose (or None) for each of the first 90 frames, as the pipeline gets them."""
    pose2d, capture, out = create_pose2d(), cv2.VideoCapture(str(SAMPLE)), []
    try:
        for seq in range(90):
            ok, image = capture.read()
            assert ok
            out.append(next(iter(pose2d.estimate(image, seq * 33)), None))
    finally:
        capture.release()
        pose2d.close()
    return out


def wrong_way_round(points: np.ndarray) -> list[str]:
    """The sides (shoulder, elbow, ...) whose left joint is not on the image's right of the right one."""
    return [side for side in SIDES if not points[JOINT_INDEX[f"left_{side}"], 0] > points[JOINT_INDEX[f"right_{side}"], 0]]


def test_mediapipe_swaps_left_and_right_in_the_labelled_frames(poses):
    """The premise: without the repair these frames are published the wrong way round."""
    for seq in SWAPPED_BY_MEDIAPIPE:
        assert wrong_way_round(poses[seq].h36m_pixels()), seq
    for seq in RIGHT_BY_MEDIAPIPE:
        assert not wrong_way_round(poses[seq].h36m_pixels()), seq


def test_the_published_poses_have_left_and_right_where_they_are(poses):
    engine = load_engine(None, backend="onnxruntime-cpu", threads=1)
    stage = LifterStage(engine, root=False)
    out = []
    for seq, pose in enumerate(poses):
        out += stage.process([FrameRecord(seq, "video:sample.mp4", seq * 33_333_333, (640, 360), people=[pose] if pose else [])])
    published = {rec.seq: rec for rec in out + stage.finish()}
    for seq in SWAPPED_BY_MEDIAPIPE + RIGHT_BY_MEDIAPIPE:
        assert published[seq].valid
        assert wrong_way_round(published[seq].pose2d.h36m_pixels()) == [], seq
        assert wrong_way_round(published[seq].pose3d) == [], seq  # camera frame, x right: the 3D follows
    assert stage.left_right_repaired >= len(SWAPPED_BY_MEDIAPIPE)


def test_a_track_that_starts_swapped_is_given_back_to_mediapipe(poses):
    """The first frame sets a track's labels; a wrong one is undone within a second or two (here
    by frame 46, 40 frames on: the 30-frame window has to fill first)."""
    repair = LeftRightRepair()
    track = [pose for pose in poses[6:90] if pose is not None]
    start = track[0].relabelled(swap_index(ARMS + LEGS))
    fixed = [pose.relabelled(repair(pose.landmarks_px)) for pose in [start] + track[1:]]
    seqs = [seq for seq in range(6, 90) if poses[seq] is not None]
    right = {seq: not wrong_way_round(pose.h36m_pixels()) for seq, pose in zip(seqs, fixed)}
    assert not right[6]
    assert all(right[seq] for seq in RIGHT_BY_MEDIAPIPE + SWAPPED_BY_MEDIAPIPE if seq >= 50)


def test_swapping_exchanges_the_labels_not_the_image():
    rng = np.random.default_rng(0)
    pose = Pose2D(rng.uniform(0, 600, (33, 2)).astype(np.float32), rng.uniform(0, 1, 33).astype(np.float32),
                  rng.normal(size=(33, 3)).astype(np.float32), (640, 360))
    arms = pose.relabelled(swap_index(ARMS))
    np.testing.assert_array_equal(arms.landmarks_px[11], pose.landmarks_px[12])   # left shoulder <- right
    np.testing.assert_array_equal(arms.visibility[12], pose.visibility[11])
    np.testing.assert_array_equal(arms.landmarks_px[23:], pose.landmarks_px[23:])  # the legs untouched
    np.testing.assert_array_equal(arms.relabelled(swap_index(ARMS)).landmarks_px, pose.landmarks_px)
