"""Consumers and security, with real ZeroMQ sockets on loopback: many, slow, dead and late
subscribers never hold up the publisher and lose only their own messages (counted on their side
from ``pub_seq``); the endpoint is local unless remote access is asked for; CurveZMQ admits only
allowed client keys."""
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
import zmq.auth

from stream import wire
from stream.client import MetaFrame, PoseFrame, Subscriber
from stream.config import load_settings
from stream.pose2d import Pose2D
from stream.publisher import Publisher, is_local_endpoint
from stream.record import FrameRecord

ROOT = Path(__file__).resolve().parents[1]


RECORD = FrameRecord(0, "camera:0", 1, (640, 360), stamps={"capture": 0, "read": 1}, valid=True, confident=True,
                     pose2d=Pose2D(np.full((33, 2), 100, np.float32), np.ones(33, np.float32),
                                   np.zeros((33, 3), np.float32), (640, 360)),
                     pose3d=np.zeros((17, 3), np.float32))


def pose_message(pub: Publisher, seq: int) -> list[bytes]:
    RECORD.seq = seq
    return wire.encode_pose(RECORD, pub.stream_id, 0, 30.0, time.time_ns(), pub.next_pub_seq)


def drain(subs: list[Subscriber], counts: dict, timeout_s: float) -> None:
    """Count the pose messages on every socket until all have been quiet for ``timeout_s``."""
    poller = zmq.Poller()
    for sub in subs:
        poller.register(sub.socket, zmq.POLLIN)
    while ready := poller.poll(int(timeout_s * 1000)):
        for socket, _ in ready:
            while socket.poll(0):
                counts[socket] += socket.recv_multipart()[0].startswith(wire.POSE_PREFIX.encode())


def test_twenty_subscribers_one_stalled_the_others_get_everything():
    """The stalled one loses messages, the 19 others none, and no send waits for anyone."""
    # A deep queue per subscriber, so a busy test machine cannot make a healthy reader fall behind;
    # the stalled one overflows it all the same.
    pub = Publisher("tcp://127.0.0.1:*", "cam0", send_hwm=500)
    healthy = [Subscriber(pub.endpoint, "cam0") for _ in range(19)]
    stalled = Subscriber(pub.endpoint, "cam0", rcv_hwm=2)
    counts = {sub.socket: 0 for sub in healthy}
    n = 12_000  # about twice what the queues and TCP buffers in front of the stalled one hold
    try:
        deadline = time.monotonic() + 20
        while pub.subscriptions < 2 * 20 and time.monotonic() < deadline:  # pose + meta topic each
            pub.wait_for_subscriber(0.1)
            pub.service()
        sent = []
        for i in range(n):
            sent.append(pub.send(pose_message(pub, i)))
            if i % 50 == 49:  # the healthy ones read as they go
                drain(healthy, counts, 0.005)
        drain(healthy, counts, 1.0)
        assert all(sent) and pub.sent == n and pub.dropped == 0
        assert list(counts.values()) == [n] * 19

        received = 0
        while (message := stalled.receive(timeout_s=1)) is not None:
            received += isinstance(message, PoseFrame)
        assert received < n, "the stalled subscriber lost nothing: the test did not stall it"
        assert pub.send(pose_message(pub, n))  # it reads again: the next message shows the gap
        for frame in stalled.frames(timeout_s=10):  # stragglers a busy machine delivered late, then the new one
            if frame.pub_seq == n:
                break
            received += 1
        assert frame.pub_seq == n and stalled.lost == n - received
    finally:
        for sub in [*healthy, stalled]:
            sub.close()
        pub.close()


def test_subscribers_come_and_go_and_a_killed_one_holds_nobody_up():
    pub = Publisher("tcp://127.0.0.1:*", "cam0", meta_interval_s=10)
    steady = Subscriber(pub.endpoint, "cam0")
    victim = subprocess.Popen([sys.executable, str(ROOT / "tools" / "subscribe.py"), "--endpoint", pub.endpoint],
                              cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        assert pub.wait_for_subscriber(30)
        deadline = time.monotonic() + 30
        while pub.subscriptions < 4 and time.monotonic() < deadline:  # steady + victim, 2 topics each
            pub.wait_for_subscriber(0.1)
            pub.service()
        for i in range(200):
            pub.service()
            assert pub.send(pose_message(pub, i))
            if i == 50:
                victim.kill()  # dies without closing its socket
            if i % 40 == 0:  # a late joiner gets the description at once, then poses
                with Subscriber(pub.endpoint, "cam0") as late:
                    joined = time.monotonic()
                    while not isinstance(late.receive(timeout_s=0.01), MetaFrame):
                        assert time.monotonic() - joined < 10, "a late subscriber got no description"
                        pub.service()
            time.sleep(0.002)
        frames = list(steady.frames(timeout_s=2))
        assert [f.pub_seq for f in frames] == list(range(200)) and steady.lost == 0
        assert pub.sent == 200 and pub.dropped == 0
    finally:
        victim.kill()
        victim.wait()
        steady.close()
        pub.close()


@pytest.mark.parametrize("endpoint,local", [
    ("tcp://127.0.0.1:5556", True), ("tcp://localhost:1", True), ("tcp://[::1]:1", True),
    ("ipc:///tmp/hot.sock", True), ("inproc://x", True), ("tcp://*:5556", False),
    ("tcp://0.0.0.0:5556", False), ("tcp://192.168.1.5:5556", False), ("tcp://eth0:5556", False),
])
def test_which_endpoints_are_local(endpoint, local):
    assert is_local_endpoint(endpoint) is local


@pytest.mark.parametrize("endpoint,message", [
    ("127.0.0.1:5556", r"'127.0.0.1:5556' has no transport .*; write tcp://127.0.0.1:5556"),
    ("foo://x", r"'foo://x': unknown transport 'foo' \(expected tcp://HOST:PORT, ipc://PATH or inproc://NAME\)"),
    ("tcp://127.0.0.1:99999", r"port '99999' is not a number from 1 to 65535"),
    ("tcp://127.0.0.1", r"needs a host and a port"),
    ("ipc://", r"names no path"),
])
def test_a_malformed_endpoint_is_named_with_what_is_wrong(endpoint, message):
    for make in (lambda: load_settings(values={"publisher.endpoint": endpoint}),
                 lambda: Publisher(endpoint, "cam0", allow_remote=True)):
        with pytest.raises(ValueError, match=message) as err:
            make()
        assert "allow_remote" not in str(err.value)
    with pytest.raises(ValueError, match=message):
        Subscriber(endpoint)
    with pytest.raises(ValueError, match="port '\\*' \\(any free port\\) is for binding"):
        Subscriber("tcp://127.0.0.1:*")


def test_remote_binding_must_be_asked_for_and_warns_without_curve(caplog):
    with pytest.raises(ValueError, match=r"reachable from other machines; set publisher.allow_remote"):
        load_settings(values={"publisher.endpoint": "tcp://*:5556"})
    with pytest.raises(ValueError, match="allow_remote"):
        Publisher("tcp://0.0.0.0:*", "cam0")
    assert load_settings(values={"publisher.endpoint": "tcp://*:5556", "publisher.allow_remote": True})
    with caplog.at_level(logging.WARNING, logger="stream.publisher"):
        pub = Publisher("tcp://*:*", "cam0", allow_remote=True)
        pub.close()
    assert "unencrypted and unauthenticated" in caplog.text


@pytest.fixture
def keys(tmp_path):
    """Server and client key pairs made by tools/keys.py; only alice is on the allow-list."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "keys.py"), str(tmp_path), "server", "alice",
                           "mallory"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "alice.key_secret").stat().st_mode & 0o077 == 0  # secret stays private
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "alice.key").write_bytes((tmp_path / "alice.key").read_bytes())
    return tmp_path


def test_curve_only_allowed_clients_receive_poses(keys, caplog):
    with caplog.at_level(logging.INFO, logger="stream.publisher"):
        pub = Publisher("tcp://127.0.0.1:*", "cam0", curve_secret_key=keys / "server.key_secret",
                        curve_allowed_clients=keys / "allowed")
    assert f"CurveZMQ on: encrypted; clients admitted by the 1 public keys in {keys / 'allowed'}" in caplog.text
    server_key = keys / "server.key"
    alice = Subscriber(pub.endpoint, "cam0", curve_secret_key=keys / "alice.key_secret", curve_server_key=server_key)
    mallory = Subscriber(pub.endpoint, "cam0", curve_secret_key=keys / "mallory.key_secret",
                         curve_server_key=server_key)
    plain = Subscriber(pub.endpoint, "cam0")
    got = {alice: [], mallory: [], plain: []}
    refused = []
    try:
        assert pub.wait_for_subscriber(20)
        for i in range(30):
            pub.service()
            pub.send(pose_message(pub, i))
            time.sleep(0.03)  # a second of stream: ample time for every handshake to have been tried
            for sub, messages in got.items():
                try:
                    while (message := sub.receive(timeout_s=0)) is not None:
                        messages.append(message)
                except PermissionError as err:
                    refused.append((sub, str(err)))
    finally:
        for sub in got:
            sub.close()
        pub.close()
    assert any(isinstance(m, PoseFrame) for m in got[alice]) and any(isinstance(m, MetaFrame) for m in got[alice])
    assert got[mallory] == [] and got[plain] == []
    assert refused and {sub for sub, _ in refused} == {mallory}  # told, instead of waiting for ever
    assert "the publisher refused this client's key (CurveZMQ)" in refused[0][1]


def test_a_refused_curve_client_is_told_at_once(keys):
    pub = Publisher("tcp://127.0.0.1:*", "cam0", curve_secret_key=keys / "server.key_secret",
                    curve_allowed_clients=keys / "allowed")
    mallory = Subscriber(pub.endpoint, "cam0", curve_secret_key=keys / "mallory.key_secret",
                         curve_server_key=keys / "server.key")
    try:
        with pytest.raises(PermissionError, match="curve_allowed_clients folder"):
            next(mallory.frames(timeout_s=60))  # not told, it would hear nothing and wait
    finally:
        mallory.close()
        pub.close()


def test_curve_settings_are_checked(keys, tmp_path):
    with pytest.raises(ValueError, match="both"):
        load_settings(values={"publisher.curve_secret_key": str(keys / "server.key_secret")})
    with pytest.raises(ValueError, match="server.key: holds no secret key"):
        Publisher("tcp://127.0.0.1:*", "cam0", curve_secret_key=keys / "server.key", curve_allowed_clients=keys / "allowed")
    with pytest.raises(FileNotFoundError, match="publisher.curve_allowed_clients .*missing: folder not found"):
        Publisher("tcp://127.0.0.1:*", "cam0", curve_secret_key=keys / "server.key_secret",
                  curve_allowed_clients=tmp_path / "missing")
    empty = tmp_path / "nobody"
    empty.mkdir()
    with pytest.raises(ValueError, match="nobody: no public key files"):
        Publisher("tcp://127.0.0.1:*", "cam0", curve_secret_key=keys / "server.key_secret", curve_allowed_clients=empty)
    with pytest.raises(FileNotFoundError, match="missing.key_secret: key file not found"):
        Subscriber("tcp://127.0.0.1:1", curve_secret_key=keys / "missing.key_secret", curve_server_key=keys / "server.key")
