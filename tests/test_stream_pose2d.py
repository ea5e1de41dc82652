"""2D stage: real BlazePose on frames of the sample clip, and the person tracker's choices."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.pose2d import PersonTracker, box_iou, create_pose2d
from stream.pose2d.solutions import SolutionsPose

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"


def test_blazepose_finds_a_person_in_the_sample_clip():
    cap = cv2.VideoCapture(str(SAMPLE))
    frames = [cap.read()[1] for _ in range(40)][20:]
    cap.release()
    pose = SolutionsPose()
    try:
        results = [pose.estimate(f, i * 33) for i, f in enumerate(frames)]
        nobody = pose.estimate(np.zeros((360, 640, 3), np.uint8), 10_000)
    finally:
        pose.close()
    found = [r for r in results if r is not None]
    assert len(found) >= 15 and nobody is None
    r = found[-1]
    assert r.landmarks_px.shape == (33, 2) and r.visibility.shape == (33,) and r.world.shape == (33, 3)
    assert r.image_size == (640, 360)
    h36m = r.h36m_pixels()
    assert h36m.shape == (17, 2) and r.h36m_scores().shape == (17,)
    assert (h36m[:, 0] > 0).all() and (h36m[:, 0] < 640).all() and (h36m[:, 1] > 0).all()
    assert h36m[10, 1] < h36m[0, 1] < h36m[3, 1]  # head above pelvis above ankle in the image
    uv = r.h36m_normalized()
    assert (np.abs(uv) <= 1.2).all()
    assert {p.person_id for p in found} == {0}  # one track all along


def person(x0, y0, w=50, h=150):
    """33 landmarks filling a box."""
    rng = np.random.default_rng(int(x0))
    pts = rng.uniform(0, 1, (33, 2)) * (w, h) + (x0, y0)
    pts[0], pts[1] = (x0, y0), (x0 + w, y0 + h)
    return pts.astype(np.float32)


def test_tracker_follows_the_overlapping_person_and_numbers_newcomers():
    tracker = PersonTracker(min_iou=0.1)
    assert tracker.choose([person(100, 50)]) == (0, 0)
    assert tracker.choose([person(400, 50, 80, 200), person(105, 52)]) == (1, 0)  # same person, not the bigger one
    assert tracker.choose([person(400, 50, 80, 200)]) == (0, 1)  # only someone else: a new id
    assert tracker.choose([person(10, 10, 10, 10), person(402, 50, 80, 200)]) == (1, 1)


def test_box_iou():
    a = np.array([0, 0, 10, 10], np.float32)
    assert box_iou(a, a) == pytest.approx(1.0)
    assert box_iou(a, np.array([5, 0, 15, 10], np.float32)) == pytest.approx(50 / 150)
    assert box_iou(a, np.array([20, 20, 30, 30], np.float32)) == 0.0


def test_unknown_backends_and_bad_task_files_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown pose2d.backend 'openpose'; choose one of solutions, tasks"):
        create_pose2d(backend="openpose")
    with pytest.raises(FileNotFoundError, match="pose2d.task_file not found"):
        create_pose2d(backend="tasks", task_file=tmp_path / "pose_landmarker_full.task")
    (tmp_path / "corrupt.task").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="corrupt.task: not a usable PoseLandmarker bundle"):
        create_pose2d(backend="tasks", task_file=tmp_path / "corrupt.task")


def test_the_tasks_backend_runs_offline_on_the_bundle_built_from_the_bundled_models(tmp_path, monkeypatch):
    import cv2

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    pose = create_pose2d(backend="tasks", num_poses=2)
    try:
        video = cv2.VideoCapture(str(SAMPLE))
        found = 0
        for t in range(12):
            ok, image = video.read()
            found += ok and pose.estimate(image, int(t * 1000 / 30)) is not None
    finally:
        pose.close()
    assert (tmp_path / "hotstream" / "pose_landmarker_full.task").is_file() and found > 0
