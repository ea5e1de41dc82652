"""Record a session published through the real publisher, then replay it to a real loopback subscriber."""
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from stream import wire
from stream.recorder import FORMAT, Recorder, load_recording
from stream.replay import Replayer
from synthetic_motion import pose_messages, record_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "session.npz"
    sent = record_session(path, frames=45, fps=30.0, stream_ids=("cam0", "cam1"))
    return path, sent


def test_recording_keeps_every_message_and_plain_arrays(session):
    path, sent = session
    rec = load_recording(path)
    poses = [rec.message(k) for k in range(len(rec)) if rec.pose_row[k] >= 0]
    assert poses == sent  # byte for byte: headers, arrays, topics, order
    assert any(t == "meta/cam0" for t in rec.topics) and any(t == "meta/cam1" for t in rec.topics)
    assert np.all(np.diff(rec.t_receive_ns) >= 0)
    with np.load(path) as npz:  # readable without hotstream: stacked arrays per pose message
        assert str(npz["format"]) == FORMAT
        assert npz["pose3d"].shape == (90, 17, 3) and npz["pose2d"].shape == (90, 17, 2)
        assert list(npz["stream_id"][:2]) == ["cam0", "cam1"] and list(npz["seq"][:4]) == [0, 0, 1, 1]
        assert np.isnan(npz["root"][0]).all() and np.isfinite(npz["root"][2]).all()  # seq 0 had no root
        assert list(npz["joint_names"][:2]) == ["pelvis", "right_hip"]
        first = wire.decode(sent[0])
        np.testing.assert_array_equal(npz["pose3d"][0], first.pose3d)
        assert list(npz["stage_names"]) == list(first.stages_ms)
        headers = msgpack.unpackb(npz["headers"].tobytes())
        assert len(headers) == len(npz["topic"]) == len(npz["t_receive_ns"])


def test_recorder_rejects_what_is_not_a_message_and_an_empty_save(tmp_path):
    recorder = Recorder()
    with pytest.raises(ValueError, match="at least 2 frames"):
        recorder.add([b"pose3d/cam0"])
    recorder.add(wire.encode_meta("cam0", {"joint_names": [], "parents": []}))
    with pytest.raises(ValueError, match="none of them a pose"):
        recorder.save(tmp_path / "x.npz")
    recorder.add(pose_messages(1, 30.0)[0])
    assert recorder.save(tmp_path / "x.npz").is_file()
    np.savez(tmp_path / "poses_only.npz", pose3d=np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match="no recorded messages"):
        load_recording(tmp_path / "poses_only.npz")
    with pytest.raises(FileNotFoundError):
        load_recording(tmp_path / "missing.npz")


def receive_all(socket: zmq.Socket, count: int, timeout_s: float) -> list[tuple[int, list[bytes]]]:
    received = []
    while len(received) < count and socket.poll(int(timeout_s * 1000)):
        parts = socket.recv_multipart()
        received.append((time.time_ns(), parts))
    return received


def replay_to_subscriber(rec, **run_args):
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    result = {}
    with Replayer(rec, "tcp://127.0.0.1:*") as replayer:
        sub.connect(replayer.endpoint)

        def play():
            assert replayer.wait_for_subscriber(10)
            result["stats"] = replayer.run(**run_args)

        thread = threading.Thread(target=play)
        thread.start()
        received = receive_all(sub, len(rec), timeout_s=10)
        thread.join()
    sub.close()
    return received, result["stats"]


def test_replay_sends_the_same_messages_in_order_with_the_recorded_gaps(session):
    rec = load_recording(session[0])
    received, stats = replay_to_subscriber(rec)
    assert stats.sent == len(rec) == len(received)
    assert [parts for _, parts in received] == [rec.message(k) for k in range(len(rec))]
    gap_error_ms = np.abs(np.diff([t for t, _ in received]) - np.diff(rec.t_receive_ns)) / 1e6
    assert np.median(gap_error_ms) < 5 and np.percentile(gap_error_ms, 95) < 5, gap_error_ms


def test_replay_as_fast_as_possible_with_fresh_timestamps(session):
    rec = load_recording(session[0])
    received, stats = replay_to_subscriber(rec, as_fast_as_possible=True, restamp=True)
    assert len(received) == len(rec)
    recorded_span_s = (rec.t_receive_ns[-1] - rec.t_receive_ns[0]) / 1e9
    assert stats.wall_s < recorded_span_s / 2
    for (t_received, parts), k in zip(received, range(len(rec))):
        message = wire.decode(parts)
        if isinstance(message, wire.PoseFrame):
            original = rec.headers[k]
            # the recorded receive-minus-capture latency is kept; the age of the recording is not
            assert message.t_capture_ns - original["t_capture_ns"] == message.t_publish_ns - original["t_publish_ns"]
            assert 0 <= t_received - message.t_capture_ns < rec.t_receive_ns[k] - original["t_capture_ns"] + 1e9
            np.testing.assert_array_equal(message.pose3d, rec.data["pose3d"][rec.pose_row[k]])


def test_a_stopped_recorder_keeps_what_was_sent_before_the_stop(tmp_path):
    import threading

    from stream.publisher import Publisher
    from stream.recorder import record

    messages = pose_messages(20, 30.0)
    pub = Publisher("tcp://127.0.0.1:*", "cam0")
    pub.description = {"joint_names": ["pelvis"], "parents": [-1]}
    stop, kept = threading.Event(), []
    thread = threading.Thread(target=lambda: kept.append(record(pub.endpoint, "cam0", stop=stop)))
    try:
        thread.start()
        assert pub.wait_for_subscriber(10)
        for message in messages:
            assert pub.send(message)
        stop.set()  # the last sends are still on their way: they are drained, not lost
        thread.join(10)
    finally:
        pub.close()
    recorder = kept[0]
    assert recorder.rejected == 0
    path = recorder.save(tmp_path / "bg.npz")
    rec = load_recording(path)
    assert [rec.message(k) for k in range(len(rec)) if rec.pose_row[k] >= 0] == messages
    assert rec.topics[0] == "meta/cam0"


def test_replay_cli_refuses_a_poses_only_file(tmp_path):
    import subprocess
    import sys

    np.savez(tmp_path / "poses.npz", pose3d=np.zeros((2, 17, 3)))
    done = subprocess.run([sys.executable, "tools/replay.py", str(tmp_path / "poses.npz")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "no recorded messages" in done.stderr
