"""The live viewer, headless: a recorded session replayed over loopback is drawn into a video file."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream import wire
from stream.recorder import load_recording
from stream.render import LEFT_BGR, RIGHT_BGR, View3D, draw_skeleton_2d, render_3d, standing
from stream.replay import Replayer
from stream.viewer import LiveView, run_viewer
from synthetic_motion import pose_messages, record_session, walking

ROOT = Path(__file__).resolve().parents[1]


def pixels_near(image: np.ndarray, bgr: tuple[int, int, int], tolerance: int = 40) -> int:
    return int((np.abs(image.astype(int) - bgr).max(axis=-1) < tolerance).sum())


def test_standing_puts_the_lower_ankle_on_the_floor_with_the_head_up():
    pose = walking(1)[0][0]
    floor = standing(pose)
    assert min(floor[3, 1], floor[6, 1]) == pytest.approx(0.0, abs=1e-6)
    assert floor[10, 1] > 1.4  # head top, y up
    np.testing.assert_allclose(floor[0, [0, 2]], 0.0, atol=1e-6)
    # a rigid motion of the input: distances and handedness (so left and right) are kept
    triple = lambda p: np.linalg.det(np.stack([p[4] - p[0], p[7] - p[0], p[9] - p[8]]))  # noqa: E731
    np.testing.assert_allclose(triple(floor), triple(pose), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(floor[4] - floor[1]), np.linalg.norm(pose[4] - pose[1]), rtol=1e-6)


def test_left_is_blue_and_on_the_image_right_when_seen_from_the_camera():
    pose = np.zeros((17, 3))
    pose[[4, 5, 6, 11, 12, 13], 0] = 0.3    # left joints to camera x+ (image right)
    pose[[1, 2, 3, 14, 15, 16], 0] = -0.3
    pose[[2, 5, 3, 6], 1] = (0.5, 0.5, 1.0, 1.0)
    panel = render_3d(pose, View3D(azimuth=0.0, elevation=0.0))
    half = panel.shape[1] // 2
    assert pixels_near(panel[:, half:], LEFT_BGR) > 20 and pixels_near(panel[:, :half], LEFT_BGR) < 5
    assert pixels_near(panel[:, :half], RIGHT_BGR) > 20
    image = draw_skeleton_2d(np.zeros((100, 100, 3), np.uint8), np.full((17, 2), 50.0), np.zeros(17))
    assert not image.any()  # every joint below the score threshold: nothing drawn


def test_the_people_of_a_stream_stand_side_by_side_until_one_is_gone():
    view = LiveView((400, 200))
    first, second = (pose_messages(30, 30.0, seed=person) for person in (0, 1))  # same stream, persons 0 and 1
    t0 = wire.decode(first[0]).t_capture_ns
    for k in range(30):
        view.update(wire.decode(first[k]), t0 + k * 33_333_333)
        if k < 5:
            view.update(wire.decode(second[k]), t0 + k * 33_333_333)
    people = [frame.header["person"] for frame in view.streams["cam0"].in_view()]
    assert people == [0]  # person 1 was last heard 0.83 s before the newest message
    view.streams["cam0"].add(wire.decode(second[29]), t0 + 30 * 33_333_333)
    assert [frame.header["person"] for frame in view.streams["cam0"].in_view()] == [0, 1]
    assert view.streams["cam0"].skipped == 0  # several people share a seq: no frame was skipped


def test_live_view_counts_skipped_frames_and_shows_each_stream():
    view = LiveView((400, 200))
    messages = pose_messages(5, 30.0)
    for k in (0, 1, 4):
        view.update(wire.decode(messages[k]), t_receive_ns=wire.decode(messages[k]).t_capture_ns + 20_000_000)
    view.update(wire.decode(pose_messages(1, 30.0, "cam1", seed=1)[0]), 0)
    assert view.streams["cam0"].skipped == 2 and view.streams["cam0"].received == 3
    assert view.streams["cam0"].latency_ms() == pytest.approx(20.0)
    canvas = view.render(t_now_ns=0)
    assert canvas.shape == (200, 400, 3)
    for half in (canvas[:, :200], canvas[:, 200:]):
        assert pixels_near(half, LEFT_BGR) > 50 and pixels_near(half, RIGHT_BGR) > 50


def test_viewer_renders_a_replayed_session_to_video(tmp_path):
    path = tmp_path / "session.npz"
    record_session(path, frames=30, fps=30.0, stream_ids=("cam0", "cam1"))
    out = tmp_path / "view.mp4"
    with Replayer(load_recording(path), "tcp://127.0.0.1:*") as replayer:
        player = threading.Thread(target=lambda: replayer.wait_for_subscriber(10) and replayer.run(restamp=True))
        player.start()
        stats = run_viewer(replayer.endpoint, save=out, idle_timeout_s=1.5, size=(480, 240))
        player.join()
    assert stats.received == {"cam0": 30, "cam1": 30} and stats.skipped == {"cam0": 0, "cam1": 0}
    video = cv2.VideoCapture(str(out))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    assert frames == stats.video_frames > 30
    video.set(cv2.CAP_PROP_POS_FRAMES, frames // 2)
    ok, image = video.read()
    video.release()
    assert ok and image.shape == (240, 480, 3)
    for half in (image[:, :240], image[:, 240:]):  # both streams drawn, each with both sides
        assert pixels_near(half, LEFT_BGR, 60) > 30 and pixels_near(half, RIGHT_BGR, 60) > 30


def test_view_cli_without_display_or_save_fails_clearly():
    no_display = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "tools/view.py", "--duration", "0.1"], capture_output=True, text=True,
                            env=no_display, timeout=60)
    assert result.returncode == 2 and "no display" in result.stderr


def _publisher_with_stream():
    from stream.publisher import Publisher

    pub = Publisher("tcp://127.0.0.1:*", "cam0")
    pub.description = {"joint_names": [], "source_state": "ok"}
    return pub


def _playable_frames(path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames


def _view(pub, out):
    return subprocess.Popen([sys.executable, "tools/view.py", "--connect", pub.endpoint, "--save", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _send_until_written(pub, out, proc):
    """Poses until the video file holds some frames on disk (the writer flushes in chunks)."""
    assert pub.wait_for_subscriber(120)
    messages = pose_messages(600, 30.0)
    for k, parts in enumerate(messages):
        pub.service()
        pub.send(parts)
        threading.Event().wait(1 / 30)
        if out.exists() and out.stat().st_size > 64_000:
            return
        assert proc.poll() is None, proc.communicate()
    raise AssertionError("the viewer wrote nothing")


def test_viewer_stops_when_its_stream_ends_and_finishes_the_video(tmp_path):
    pub, out = _publisher_with_stream(), tmp_path / "view.mp4"
    proc = _view(pub, out)
    try:
        _send_until_written(pub, out, proc)
        pub.description["source_state"] = "ended"
        pub.send_meta()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
        pub.close()
    assert proc.returncode == 0, stderr
    assert _playable_frames(out) > 0 and "wrote" in stdout


def test_viewer_finishes_the_video_on_sigterm(tmp_path):
    import signal

    pub, out = _publisher_with_stream(), tmp_path / "view.mp4"
    proc = _view(pub, out)
    try:
        _send_until_written(pub, out, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
        pub.close()
    assert proc.returncode == 0, stderr
    assert _playable_frames(out) > 0
