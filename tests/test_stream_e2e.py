"""End to end: run_stream.py on the sample clip with the real 2D model and the shipped lifter,
a real subscriber on loopback, then the latency report and its plot."""
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engines.skeleton import JOINT_NAMES, PARENTS
from stream.client import PoseFrame, Subscriber
from stream.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"
HEADER_FIELDS = {"v", "seq", "stream_id", "valid", "confident", "pub_seq", "person", "t_capture_ns",
                 "t_publish_ns", "stages_ms", "lookahead", "fps", "image_size", "arrays"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One pipeline run (as fast as possible) and everything a subscriber got from it."""
    tmp = tmp_path_factory.mktemp("e2e")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    poses, metas = [], []
    sub = Subscriber(endpoint, "cam0")  # connects before the publisher binds; ZeroMQ retries
    done = threading.Event()

    def receive():
        while not done.is_set() or sub.socket.poll(500):
            message = sub.receive(timeout_s=0.5)
            if message is not None:
                (poses if isinstance(message, PoseFrame) else metas).append(message)

    receiver = threading.Thread(target=receive)
    receiver.start()
    report_path = tmp / "report.json"
    try:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "run_stream.py"), "--source", str(SAMPLE), "--as-fast-as-possible",
             "--endpoint", endpoint, "--report", str(report_path),
             "--set", "publisher.wait_for_subscriber_s=60", "--set", "publisher.send_hwm=10000"],
            capture_output=True, text=True, cwd=ROOT, timeout=540)
    finally:
        done.set()
        receiver.join()
        sub.close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"proc": proc, "report": json.loads(report_path.read_text()), "report_path": report_path,
            "poses": poses, "metas": metas, "meta": sub.meta, "tmp": tmp}


def test_every_frame_with_a_person_is_published_and_received(run):
    counts, poses = run["report"]["counts"], run["poses"]
    assert counts["captured"] == 230
    assert counts["dropped_at_source"] == 0 and counts["dropped_by_socket"] == 0
    assert all(counts[k] == 0 for k in counts if k.startswith("dropped_wait"))  # nothing dropped offline
    with_person = counts["captured"] - counts["no_person"]
    assert with_person > 200  # two people walk through the whole clip; BlazePose finds one
    assert sum(p.valid for p in poses) == with_person
    assert sum(not p.valid for p in poses) == counts["held_invalid"]
    assert len(poses) == counts["published"] == with_person + counts["held_invalid"]
    seqs = [p.seq for p in poses]
    assert seqs == sorted(set(seqs)) and 0 <= seqs[0] and seqs[-1] <= 229
    assert counts["left_right_repaired"] > 0  # MediaPipe swaps the man facing the camera (tests/test_left_right.py)


def test_headers_and_arrays(run):
    for p in run["poses"]:
        assert set(p.header) == HEADER_FIELDS
        assert (p.header["v"], p.stream_id, p.lookahead, p.fps) == (1, "cam0", 0, 30.0)
        assert p.t_capture_ns < p.t_publish_ns
        assert {"read", "pose2d", "lift", "wait_publish"} <= set(p.stages_ms)
        assert p.header["image_size"] == [640, 360]
        shapes = {name: (a.dtype, a.shape) for name, a in p.arrays.items()}
        assert shapes["pose3d"] == (np.float32, (17, 3))
        assert shapes["pose2d"] == (np.float32, (17, 2))
        assert shapes["score"] == (np.float32, (17,))
        assert shapes.get("root", (np.float32, (3,))) == (np.float32, (3,))
        assert np.isfinite(p.pose3d).all() and (p.pose3d[0] == 0).all()  # root-relative
        assert ((p.arrays["pose2d"] > -200) & (p.arrays["pose2d"] < 840)).all()  # near the 640x360 image
    with_root = sum("root" in p.arrays for p in run["poses"])
    assert with_root + run["report"]["counts"]["root_failed"] == len(run["poses"])


def test_meta_message_describes_the_stream(run):
    assert run["metas"], "no meta message received"
    meta = run["meta"]
    assert meta["v"] == 1 and meta["stream_id"] == "cam0"
    assert meta["joint_names"] == list(JOINT_NAMES) and meta["parents"] == list(PARENTS)
    assert meta["units"]["pose3d"] == "m" and "z forward" in meta["coordinates"]["pose3d"]
    assert meta["window"] == meta["model"]["T"] and meta["lookahead"] == 0 and meta["fps"] == 30.0
    assert meta["model"]["backend"] and meta["topics"] == {"pose": "pose3d/cam0", "meta": "meta/cam0"}


def test_report_has_percentiles_and_per_frame_timings(run):
    report = run["report"]
    for stage in ("read", "wait_2d", "pose2d", "wait_lift", "lift", "root", "wait_publish", "publish",
                  "glass_to_publish"):
        stats = report["latency_ms"][stage]
        assert 0 <= stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"]
    assert len(report["per_frame"]["seq"]) == report["counts"]["published"]
    assert report["fps"]["input"] > 0 and report["fps"]["output"] > 0
    assert "glass_to_publish" in run["proc"].stdout  # the printed summary
    assert report["fps"]["output"] <= report["fps"]["input"]


def test_the_run_prints_a_summary_readable_at_a_glance(run):
    """One line for the engine choice, no MediaPipe start-up notices, short lines, no zero counts."""
    stderr, stdout = run["proc"].stderr, run["proc"].stdout
    assert stderr.count("lifting engine:") == 1 and "auto backend: skipping" not in stderr
    assert "inference_feedback_manager" not in stderr and "XNNPACK delegate" not in stderr
    summary = stdout[stdout.index("stage "):].splitlines()
    assert all(len(line) <= 100 for line in summary), summary
    assert "dropped_by_socket" not in stdout  # 0 in an offline run: counted in the JSON, not printed


def test_latency_plot_and_recording(run):
    png = run["tmp"] / "latency.png"
    plot = subprocess.run([sys.executable, str(ROOT / "tools" / "latency_plot.py"), str(run["report_path"]),
                           "--out", str(png)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert plot.returncode == 0, plot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    npz = run["tmp"] / "poses.npz"
    recorder = Recorder()
    for frame in run["poses"]:
        recorder.keep(frame)
    recorder.save(npz)
    data = np.load(npz)
    assert data["pose3d"].shape == (len(run["poses"]), 17, 3)


def test_record_and_annotate_keep_every_published_pose(tmp_path):
    """--record keeps every published message (replayable); --annotate writes every source frame."""
    import cv2

    from stream.recorder import load_recording

    session, video = tmp_path / "session.npz", tmp_path / "annotated.mp4"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_stream.py"), "--source", str(SAMPLE), "--as-fast-as-possible",
         "--endpoint", f"tcp://127.0.0.1:{free_port()}", "--record", str(session), "--annotate", str(video),
         "--set", "publisher.send_hwm=10000", "--set", "pipeline.print_report=false"],
        capture_output=True, text=True, cwd=ROOT, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recording = load_recording(session)
    poses = [m for m in recording.decoded() if isinstance(m, PoseFrame)]
    assert len(poses) > 200 and [p.seq for p in poses] == sorted(p.seq for p in poses)
    capture = cv2.VideoCapture(str(video))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert frames == cv2.VideoCapture(str(SAMPLE)).get(cv2.CAP_PROP_FRAME_COUNT)
    assert f"{len(poses)} with a pose" in proc.stdout


def test_annotate_rejects_a_camera_source():
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "--source", "0", "--annotate", "x.mp4"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "--annotate needs a video file" in proc.stderr
