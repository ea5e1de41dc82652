"""Calibration readers, triangulation, swap repair and the real-video evaluation, on synthetic
scenes seen by known cameras."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from engines.calibration import Camera, load_calibration
from engines.evaluate_video import OUTPUTS, evaluate_reference
from engines.reference import Reference, plausible_frames
from engines.skeleton import NUM_MEDIAPIPE_LANDMARKS, mediapipe_swap, mediapipe_to_h36m
from engines.triangulate import fill_gaps, low_pass, repair_swaps, triangulate
from tests.synthetic_motion import landmarks_from_h36m, walking

SIZE = (1088.0, 1920.0)


def ring_of_cameras(count: int = 4, radius: float = 4.0) -> list[Camera]:
    """Cameras on a circle around the origin at 1.8 m, looking at (0, 0, 1) in a Z-up world,
    with lens distortion."""
    cameras = []
    for k in range(count):
        angle = 2 * np.pi * k / count + 0.3
        centre = np.array([radius * np.cos(angle), radius * np.sin(angle), 1.8])
        forward = np.array([0.0, 0.0, 1.0]) - centre
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        R = np.stack([right, down, forward])
        K = np.array([[1600.0, 0, SIZE[0] / 2 + 7 * k], [0, 1600.0, SIZE[1] / 2 - 5 * k], [0, 0, 1]])
        cameras.append(Camera(f"cam0{k + 1}", SIZE, K, np.array([-0.05, 0.02, 0.001, -0.0005]), R, -R @ centre))
    return cameras


def person_landmarks(frames: int = 12) -> np.ndarray:
    """(frames, 33, 3) world landmarks of the synthetic walker standing near the origin, Z up."""
    poses, _ = walking(frames, fps=30.0)  # camera axes: x right, y down, z forward
    world = np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], -1) + [0.2, -0.1, 1.0]
    return landmarks_from_h36m(world).astype(np.float64)


def views(cameras, points):
    return np.stack([c.project(points) for c in cameras]), np.ones((len(cameras),) + points.shape[:-1])


def test_triangulation_recovers_a_scene_seen_by_four_cameras_within_a_millimetre():
    cameras, truth = ring_of_cameras(), person_landmarks()
    pixels, scores = views(cameras, truth)
    result = triangulate(pixels, scores, cameras)
    assert np.abs(result.points - truth).max() < 1e-3
    assert result.used.all() and np.nanmax(result.error_px) < 0.01


def test_a_view_far_off_is_dropped_and_the_others_decide():
    cameras, truth = ring_of_cameras(), person_landmarks()
    pixels, scores = views(cameras, truth)
    pixels[2, :, 5] += 80.0  # one view misplaces one landmark by 80 px
    result = triangulate(pixels, scores, cameras, max_error_px=15.0)
    assert not result.used[2, :, 5].any() and result.used[[0, 1, 3], :, 5].all()
    assert np.abs(result.points - truth).max() < 1e-3


def test_a_left_right_swap_in_one_view_is_repaired():
    cameras, truth = ring_of_cameras(), person_landmarks()
    pixels, scores = views(cameras, truth)
    swaps = [mediapipe_swap(p) for p in ("body", "arms", "legs")]
    pixels[1, 3:7] = pixels[1, 3:7][:, swaps[0]]  # view 1 labels the whole body the wrong way round
    pixels[3, 9] = pixels[3, 9][swaps[2]]  # view 3 swaps the legs in frame 9
    assert np.abs(triangulate(pixels, scores, cameras, max_error_px=np.inf).points - truth).max() > 0.01
    repaired, repaired_scores, chosen = repair_swaps(pixels, scores, cameras, swaps)
    assert chosen[1, 3:7].tolist() == [1] * 4 and chosen[3, 9] == 3
    assert (chosen > 0).sum() == 5
    assert np.abs(triangulate(repaired, repaired_scores, cameras).points - truth).max() < 1e-3


def test_unseen_points_are_nan_short_gaps_are_filled_and_filtering_keeps_a_smooth_track():
    cameras, truth = ring_of_cameras(), person_landmarks(40)
    pixels, scores = views(cameras, truth)
    scores[1:, 10:13, 4] = 0.0  # landmark 4 seen by one view only in frames 10-12
    points = triangulate(pixels, scores, cameras).points
    assert np.isnan(points[10:13, 4]).all() and np.isfinite(np.delete(points, 4, axis=1)).all()
    filled = fill_gaps(points, max_gap=3)
    assert np.abs(filled[10:13, 4] - truth[10:13, 4]).max() < 0.02
    assert np.isnan(fill_gaps(points, max_gap=2)[10:13, 4]).all()
    smooth = low_pass(truth, fps=30.0, cutoff_hz=6.0)
    assert np.abs(smooth - truth)[5:-5].max() < 0.01  # a 1 Hz walk passes a 6 Hz filter


def test_qualisys_and_pose2sim_calibrations_are_read(tmp_path):
    qca = tmp_path / "Calib.qca.txt"
    qca.write_text(
        '<?xml version="1.0"?><calibration><cameras><camera serial="cam01">'
        '<fov_video left="0" top="0" right="1087" bottom="1919"/>'
        '<transform x="1000" y="-2000" z="1500" r11="1" r12="0" r13="0" r21="0" r22="0" r23="1" '
        'r31="0" r32="-1" r33="0"/>'
        '<intrinsic focalLengthU="102400" focalLengthV="102400" centerPointU="34816" centerPointV="61440" '
        'radialDistortion1="0" radialDistortion2="0" radialDistortion3="0" tangentalDistortion1="0" '
        'tangentalDistortion2="0"/></camera></cameras></calibration>')
    (cam,) = load_calibration(qca)
    assert cam.name == "cam01" and cam.size == SIZE
    np.testing.assert_allclose(cam.centre, [1.0, -2.0, 1.5])
    np.testing.assert_allclose(cam.K[:2, 2], [544.0, 960.0])
    # Qualisys cameras look down their -z axis (the transform's third row is +y here): a point
    # in front projects to the principal point.
    np.testing.assert_allclose(cam.project(np.array([[1.0, 1.0, 1.5]]))[0], [544.0, 960.0], atol=1e-6)

    rvec = np.array([0.1, -0.2, 0.3])
    toml = tmp_path / "Calib.toml"
    toml.write_text('[cam_01]\nname = "cam01"\nsize = [ 1088.0, 1920.0]\n'
                    'matrix = [ [ 1600.0, 0.0, 544.0], [ 0.0, 1600.0, 960.0], [ 0.0, 0.0, 1.0]]\n'
                    'distortions = [ -0.05, 0.02, 0.0, 0.0]\nrotation = [ 0.1, -0.2, 0.3]\n'
                    'translation = [ 0.5, 0.2, 4.0]\nfisheye = false\n\n[metadata]\nadjusted = false\n')
    (cam,) = load_calibration(toml)
    import cv2
    expected, _ = cv2.projectPoints(np.array([[0.1, 0.2, 0.3]]), rvec, np.array([0.5, 0.2, 4.0]), cam.K, cam.dist)
    np.testing.assert_allclose(cam.project(np.array([[0.1, 0.2, 0.3]])), expected[:, 0], atol=1e-9)


def test_videos_in_another_resolution_are_rescaled_and_another_aspect_refused():
    cam = ring_of_cameras(1)[0]
    half = cam.for_image(544, 960)
    point = np.array([[0.3, 0.1, 1.2]])
    np.testing.assert_allclose(half.project(point), cam.project(point) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="aspect ratio"):
        cam.for_image(1080, 1080)
    with pytest.raises(ValueError, match="unknown calibration format"):
        load_calibration(__file__)


def synthetic_reference(frames: int = 40) -> Reference:
    """A reference whose views saw the walker exactly, and whose world landmarks are exact."""
    cameras, truth = ring_of_cameras(), person_landmarks(frames)
    pixels, scores = views(cameras, truth)
    world = np.stack([c.to_camera(truth) - c.to_camera(truth)[:, [23, 24]].mean(1, keepdims=True) for c in cameras])
    return Reference(cameras, 30.0, mediapipe_to_h36m(truth), truth, pixels, scores, world,
                     np.zeros(scores.shape), np.zeros(scores.shape[:2], dtype=np.int64),
                     np.zeros(scores.shape[:2], dtype=bool))


def test_the_real_video_evaluation_scores_each_output_per_camera(tmp_path):
    ref = synthetic_reference()
    ref.save(tmp_path / "ref.npz")
    ref = Reference.load(tmp_path / "ref.npz")
    assert plausible_frames(ref).all()

    def lift(pose2d, fps):  # a poor lifter: every joint but the pelvis at one point 5 cm to the right
        assert pose2d.shape == (40, 17, 2) and fps == 30.0
        return np.zeros((40, 17, 3)) + np.array([0.05, 0, 0]) * (np.arange(17) > 0)[:, None]

    rows = evaluate_reference(lift, ref)
    assert [(r["camera"], r["output"]) for r in rows[:3]] == [("cam01", o) for o in OUTPUTS]
    world = [r for r in rows if r["output"] == "mediapipe_world" and r["camera"] != "mean"]
    assert all(r["mpjpe"] < 0.01 and r["p_mpjpe"] < 0.01 and r["frames"] == 40 for r in world)  # mm
    lifter = [r for r in rows if r["output"] == "lifter" and r["camera"] != "mean"]
    fused = [r for r in rows if r["output"] == "fused" and r["camera"] != "mean"]
    assert all(f["p_mpjpe"] < l["p_mpjpe"] for f, l in zip(fused, lifter))
    assert rows[-1]["camera"] == "mean"


def test_a_view_on_someone_else_is_not_counted():
    ref = synthetic_reference()
    ref.pixels[2, 10:20] += 300.0  # camera 3 followed another person in frames 10-19
    from engines.evaluate_video import counted_frames

    assert counted_frames(ref, 2).sum() == 30 and counted_frames(ref, 1).all()
    broken = replace(ref, pose3d=ref.pose3d.copy())
    broken.pose3d[5, 3] += 0.5  # a shin half a metre too long: an implausible reference frame
    assert not plausible_frames(broken)[5] and plausible_frames(broken).sum() == 39


@pytest.mark.parametrize("args, message", [
    ([], "give videos and --calibration, or --pose2sim-demo"),
    (["a.mp4", "b.mp4"], "two or more videos and --calibration"),
    (["a.mp4", "b.mp4", "--calibration", "nope.qca.txt"], "not found"),
    (["a.mp4", "--calibration", "c.toml"], "two or more videos"),
])
def test_triangulate_tool_refuses_bad_input_in_one_line(tmp_path, args, message):
    done = subprocess.run([sys.executable, "tools/triangulate.py", *args, "--output", str(tmp_path / "r.npz")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert NUM_MEDIAPIPE_LANDMARKS == 33
