"""Wire format v1 round trip and the publisher's behaviour with real ZeroMQ sockets on loopback."""
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from stream import wire
from stream.client import MetaFrame, PoseFrame, Subscriber
from stream.pose2d import Pose2D
from stream.publisher import Publisher
from stream.record import FrameRecord


def record(seq=7, root=True) -> FrameRecord:
    rng = np.random.default_rng(seq)
    pose2d = Pose2D(rng.uniform(0, 300, (33, 2)).astype(np.float32), rng.uniform(0, 1, 33).astype(np.float32),
                    rng.normal(size=(33, 3)).astype(np.float32), (640, 360), person_id=3)
    rec = FrameRecord(seq, "video:x.mp4", 1_000_000, (640, 360), stamps={"capture": 1_000_000, "read": 2_000_000},
                      pose2d=pose2d, pose3d=rng.normal(size=(17, 3)).astype(np.float32), valid=True)
    rec.stamps["pose2d"] = 5_500_000
    rec.root = np.array([0.1, 0.2, 3.0], np.float32) if root else None
    return rec


def test_pose_message_round_trip():
    rec = record()
    parts = wire.encode_pose(rec, "cam0", lookahead=2, fps=30.0, t_publish_ns=9_000_000)
    assert parts[0] == b"pose3d/cam0"
    frame = wire.decode(parts)
    assert isinstance(frame, PoseFrame)
    assert (frame.seq, frame.stream_id, frame.valid, frame.lookahead, frame.fps) == (7, "cam0", True, 2, 30.0)
    assert (frame.t_capture_ns, frame.t_publish_ns) == (1_000_000, 9_000_000)
    assert frame.stages_ms == {"read": 1.0, "pose2d": 3.5}
    assert frame.header["person"] == 3 and frame.header["image_size"] == [640, 360]
    np.testing.assert_array_equal(frame.pose3d, rec.pose3d)
    np.testing.assert_array_equal(frame.arrays["pose2d"], rec.pose2d.h36m_pixels())
    np.testing.assert_array_equal(frame.arrays["score"], rec.pose2d.h36m_scores())
    np.testing.assert_array_equal(frame.arrays["root"], rec.root)
    assert [(a["name"], a["dtype"], a["shape"]) for a in frame.header["arrays"]] == [
        ("pose3d", "<f4", [17, 3]), ("pose2d", "<f4", [17, 2]), ("score", "<f4", [17]), ("root", "<f4", [3])]


def test_root_is_optional_and_bad_messages_are_rejected():
    parts = wire.encode_pose(record(root=False), "cam0", 0, 30.0, 1)
    assert "root" not in wire.decode(parts).arrays
    with pytest.raises(ValueError, match="carries"):
        wire.decode(parts[:-1])
    header = msgpack.unpackb(parts[1])
    with pytest.raises(ValueError, match="wire version 2"):
        wire.decode([parts[0], msgpack.packb({**header, "v": 2}), *parts[2:]])
    with pytest.raises(ValueError, match="unknown topic"):
        wire.decode([b"other/cam0", *parts[1:]])


def test_subscriber_gets_the_description_on_joining_and_then_poses():
    pub = Publisher("tcp://127.0.0.1:*", "cam0")
    pub.description = {"joint_names": ["pelvis"], "window": 81}
    try:
        with Subscriber(pub.endpoint, "cam0") as sub:
            assert pub.wait_for_subscriber(10)
            meta = sub.receive(timeout_s=10)
            assert isinstance(meta, MetaFrame) and meta.description["window"] == 81
            assert sub.meta["v"] == wire.VERSION and sub.meta["stream_id"] == "cam0"
            assert pub.send(wire.encode_pose(record(), "cam0", 0, 30.0, 1))
            frame = next(sub.frames(timeout_s=10))
            assert frame.seq == 7
    finally:
        pub.close()
    assert pub.sent == 1 and pub.dropped == 0 and pub.meta_sent >= 1


def test_a_subscriber_that_stops_reading_costs_it_messages_not_time():
    pub = Publisher("tcp://127.0.0.1:*", "cam0", send_hwm=2)
    stuck = Subscriber(pub.endpoint, "cam0", rcv_hwm=2)
    stuck.socket.setsockopt(zmq.RCVBUF, 4096)
    n = 20_000  # far more than the queues and TCP buffers between the two sockets hold
    try:
        assert pub.wait_for_subscriber(10)
        results = [pub.send(wire.encode_pose(record(), "cam0", 0, 30.0, 1, pub_seq=pub.next_pub_seq))
                   for _ in range(n)]  # each send returns at once
        assert all(results) and pub.sent == n and pub.dropped == 0
        received = 0
        while (message := stuck.receive(timeout_s=1)) is not None:
            received += isinstance(message, PoseFrame)
        assert 0 < received < n
        # Once it reads again it gets new messages, and the gap tells it what it lost meanwhile.
        assert pub.send(wire.encode_pose(record(), "cam0", 0, 30.0, 1, pub_seq=pub.next_pub_seq))
        for frame in stuck.frames(timeout_s=10):  # stragglers a busy machine delivered late, then the new one
            if frame.pub_seq == n:
                break
            received += 1
        assert frame.pub_seq == n and stuck.lost == n - received
    finally:
        stuck.close()
        pub.close()


def test_subscribe_tool_records_what_it_receives(tmp_path):
    root = Path(__file__).resolve().parents[1]
    pub = Publisher("tcp://127.0.0.1:*", "cam0")
    out = tmp_path / "poses.npz"
    proc = subprocess.Popen([sys.executable, str(root / "tools" / "subscribe.py"), "--endpoint", pub.endpoint,
                             "--count", "5", "--record", str(out)], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert pub.wait_for_subscriber(60)
        for seq in range(5):
            assert pub.send(wire.encode_pose(record(seq), "cam0", 0, 30.0, time.time_ns()))
        stdout, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        pub.close()
    assert proc.returncode == 0 and "received 5 frames" in stdout
    data = np.load(out)
    assert data["seq"].tolist() == [0, 1, 2, 3, 4] and data["pose3d"].shape == (5, 17, 3)
    np.testing.assert_array_equal(data["root"][2], record(2).root)


def subscriptions_seen(pub: Publisher, count: int) -> None:
    """Read ``count`` subscription events off the XPUB socket without answering them (no description
    is sent): the state of a publisher whose poses reach a new subscriber before its description."""
    for _ in range(count):
        assert pub.socket.poll(20_000), "no subscription"
        assert pub.socket.recv()[:1] == b"\x01"


def test_a_late_subscriber_gets_no_pose_before_the_description():
    pub = Publisher("tcp://127.0.0.1:*", "cam0")
    pub.description = {"joint_names": ["pelvis"]}
    try:
        with Subscriber(pub.endpoint, "cam0") as sub:
            subscriptions_seen(pub, 2)  # pose3d/cam0 and meta/cam0
            for seq in range(3):
                assert pub.send(wire.encode_pose(record(seq), "cam0", 0, 30.0, 1))
            pub.send_meta()
            frames = sub.frames(timeout_s=10)
            first = next(frames)
            assert sub.meta is not None and sub.meta["joint_names"] == ["pelvis"]  # the README's example
            assert [first.seq, next(frames).seq, next(frames).seq] == [0, 1, 2]  # held back, not lost
    finally:
        pub.close()


def test_poses_without_a_description_are_a_clear_error():
    pub = Publisher("tcp://127.0.0.1:*", "cam0")
    try:
        with Subscriber(pub.endpoint, "cam0") as sub:
            subscriptions_seen(pub, 2)
            assert pub.send(wire.encode_pose(record(), "cam0", 0, 30.0, 1))
            with pytest.raises(TimeoutError, match=r"stream 'cam0' but no description \(meta/cam0\) within 0.5 s"):
                next(sub.frames(timeout_s=10, description_timeout_s=0.5))
    finally:
        pub.close()


def test_subscribe_tool_saves_its_recording_on_sigterm(tmp_path):
    """What ``timeout 4 tools/subscribe.py --record`` does: SIGTERM must not lose the recording."""
    import signal
    import threading

    root = Path(__file__).resolve().parents[1]
    pub = Publisher("tcp://127.0.0.1:*", "cam0")
    out = tmp_path / "s.npz"
    proc = subprocess.Popen([sys.executable, str(root / "tools" / "subscribe.py"), "--endpoint", pub.endpoint,
                             "--record", str(out)], cwd=root, stdout=subprocess.PIPE, text=True)
    printed = threading.Event()  # a rate line: frames have arrived
    lines: list[str] = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "Hz" in line:
                printed.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert pub.wait_for_subscriber(60)
        seq = 0
        while not printed.is_set() and proc.poll() is None:
            pub.send(wire.encode_pose(record(seq), "cam0", 0, 30.0, time.time_ns()))
            seq += 1
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        reader.join()
        pub.close()
    assert proc.returncode == 0, lines
    received = int(next(line for line in lines if line.startswith("received")).split()[1])
    assert received > 0 and len(np.load(out)["seq"]) == received


def test_timestamps_exceed_a_doubles_integers_and_the_spec_says_so():
    """A JavaScript consumer reading them as numbers would lose nanoseconds: the spec must tell it."""
    now = time.time_ns()
    header = msgpack.unpackb(wire.encode_pose(record(), "cam0", 0, 30.0, t_publish_ns=now)[1])
    assert header["t_publish_ns"] == now and now > 2**53
    spec = (Path(__file__).resolve().parents[1] / "docs" / "wire-format.md").read_text()
    assert "2^53" in spec and "useBigInt64" in spec
