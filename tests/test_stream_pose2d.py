"""2D stage: real BlazePose on frames of the sample clip, and the backend registry."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.pose2d import create_pose2d
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
    assert all(len(people) <= 1 for people in results)  # the legacy solution sees one person
    found = [people[0] for people in results if people]
    assert len(found) >= 15 and nobody == []
    r = found[-1]
    assert r.landmarks_px.shape == (33, 2) and r.visibility.shape == (33,) and r.world.shape == (33, 3)
    assert r.image_size == (640, 360)
    h36m = r.h36m_pixels()
    assert h36m.shape == (17, 2) and r.h36m_scores().shape == (17,)
    assert (h36m[:, 0] > 0).all() and (h36m[:, 0] < 640).all() and (h36m[:, 1] > 0).all()
    assert h36m[10, 1] < h36m[0, 1] < h36m[3, 1]  # head above pelvis above ankle in the image
    uv = r.h36m_normalized()
    assert (np.abs(uv) <= 1.2).all()
    assert r.is_finite() and r.detection().joints.shape == (17, 2)


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
            found += ok and len(pose.estimate(image, int(t * 1000 / 30)))
    finally:
        pose.close()
    assert (tmp_path / "hotstream" / "pose_landmarker_full.task").is_file() and found > 0
