"""Output sinks (stream/sinks/), each checked by a real receiver that decodes what it got: a
python-osc server (VMC), a cyclonedds subscriber (ROS 2), rosbags (the MCAP bag), a WebSocket
client speaking the Foxglove protocol; and the seam: a stalled or failing sink leaves the
ZeroMQ stream whole and is counted."""
from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engines import humanoid
from stream import wire
from stream.config import FoxgloveSinkSettings, McapSinkSettings, Ros2SinkSettings, VmcSinkSettings
from stream.sinks import Output, SinkRunner, create_sink, ros_messages
from synthetic_motion import pose_messages

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"


def outputs(frames: int = 30) -> list[Output]:
    return [Output(parts) for parts in pose_messages(frames, 30.0)]


def expected_positions(out: Output) -> np.ndarray:
    """What the published message says: the pose at its root (camera frame), when it has one."""
    return ros_messages.positions(out.pose)


# --- VMC over OSC ------------------------------------------------------------------------------

def test_vmc_bundles_reach_an_osc_server_and_their_bones_give_the_pose_back():
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    received: list[tuple] = []
    dispatcher = Dispatcher()
    dispatcher.map("/VMC/Ext/*", lambda address, *args: received.append((address, args)))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sink = create_sink(VmcSinkSettings(port=server.server_address[1]), "cam0")
        frames = outputs(12)
        for out in frames:
            sink.send(out)
        deadline = time.monotonic() + 5
        while sum(a == "/VMC/Ext/T" for a, _ in received) < len(frames) and time.monotonic() < deadline:
            time.sleep(0.01)
        sink.close()
    finally:
        server.shutdown()
    per_frame = _split_frames(received)
    assert len(per_frame) == len(frames)
    for out, messages in zip(frames, per_frame):
        ok = [args for address, args in messages if address == "/VMC/Ext/OK"]
        if not out.pose.valid:
            assert ok == [(0,)]
            continue
        assert ok == [(1,)]
        root = next(args for address, args in messages if address == "/VMC/Ext/Root/Pos")
        assert root == ("root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
        bones = {args[0]: args[1:] for address, args in messages if address == "/VMC/Ext/Bone/Pos"}
        assert list(bones) == list(humanoid.BONES)
        offsets = np.array([bones[b][:3] for b in humanoid.BONES])[None]
        local = Rotation.from_quat([bones[b][3:] for b in humanoid.BONES]).as_matrix()[None]
        got = humanoid.forward_kinematics(local, offsets)[0]  # Unity frame
        canonical = expected_positions(out)[humanoid.BONE_JOINT] * humanoid.CAMERA_TO_HUMANOID
        want, _ = humanoid.to_unity(canonical, np.zeros(4))
        assert np.linalg.norm(got - want, axis=-1).max() < 0.01  # 1 cm (float32 OSC arguments)


def _split_frames(received: list[tuple]) -> list[list[tuple]]:
    frames, current = [], []
    for address, args in received:
        current.append((address, args))
        if address == "/VMC/Ext/T":
            frames.append(current)
            current = []
    return frames


def test_vmc_without_a_listener_goes_on():
    """Nobody on the port: on Linux an unconnected UDP socket hears no refusal, so every datagram
    goes out (a refusal or a full buffer, where the OS reports one, is counted as undelivered)."""
    sink = create_sink(VmcSinkSettings(port=9, bundle=False), "cam0")  # the discard port: nobody listens
    for out in outputs(5):
        sink.send(out)
    assert sink.counts() == {"undelivered": 0, "other_people": 0}
    sink.close()


def test_vmc_drives_its_avatar_with_one_person_and_moves_on_when_they_are_gone():
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    clock: list[float] = []
    dispatcher = Dispatcher()
    dispatcher.map("/VMC/Ext/T", lambda address, t: clock.append(t))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    first, second = (pose_messages(frames, 30.0, seed=seed) for seed, frames in ((0, 12), (1, 30)))
    interleaved = [m for pair in zip(first, second) for m in pair] + second[12:]
    try:
        sink = create_sink(VmcSinkSettings(port=server.server_address[1]), "cam0")
        for parts in interleaved:
            sink.send(Output(parts))
        deadline = time.monotonic() + 5
        while len(clock) < 12 + 30 - sink.counts()["other_people"] and time.monotonic() < deadline:
            time.sleep(0.01)
        sink.close()
    finally:
        server.shutdown()
    gone_at = (wire.decode(first[-1]).t_capture_ns - wire.decode(first[0]).t_capture_ns) / 1e9
    assert clock[:12] == pytest.approx([k / 30 for k in range(12)], abs=1e-3)  # the first person's frames
    later = clock[12:]
    assert later and min(later) >= gone_at + 0.5 - 1e-3  # the second's, once the first was gone half a second
    assert sink.counts()["other_people"] == 30 - len(later)


# --- ROS 2 over DDS ----------------------------------------------------------------------------

def test_ros2_messages_reach_a_cyclonedds_subscriber_and_decode_as_ros2_humble_types(monkeypatch):
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic
    from rosbags.typesys import Stores, get_typestore

    from stream.sinks.ros2 import QOS, idl_type

    domain = 97  # a domain of its own: nothing else on this machine talks on it
    sink = create_sink(Ros2SinkSettings(domain_id=domain, topic_prefix="/test", frame_id="cam"), "cam0")
    participant = DomainParticipant(domain)
    readers = {suffix: DataReader(participant, Topic(participant, f"rt/test/{suffix}", idl_type(t), qos=QOS), qos=QOS)
               for suffix, t in ros_messages.TOPICS.items()}
    frames = [o for o in outputs(20) if o.pose.valid]
    got: dict[str, list] = {suffix: [] for suffix in readers}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(len(v) >= 3 for v in got.values()):
        for out in frames[:5]:
            sink.send(out)
        time.sleep(0.1)
        for suffix, reader in readers.items():
            got[suffix] += reader.take(N=100)
    sink.close()
    assert all(got.values()), "no sample arrived"
    typestore = get_typestore(Stores.ROS2_HUMBLE)  # the real ROS 2 Humble definitions, not ours
    by_stamp = {ros_messages.header(o.pose, "cam")["stamp"]["nanosec"]: o for o in frames[:5]}
    for sample in got["joints"]:
        msg = typestore.deserialize_cdr(sample.serialize(), "geometry_msgs/msg/PoseArray")
        assert msg.header.frame_id == "cam"
        out = by_stamp[msg.header.stamp.nanosec]
        points = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])
        np.testing.assert_allclose(points, expected_positions(out), atol=1e-6)
    for sample in got["skeleton"]:
        msg = typestore.deserialize_cdr(sample.serialize(), "visualization_msgs/msg/MarkerArray")
        bones, joints = msg.markers
        assert (bones.type, joints.type, len(bones.points), len(joints.points)) == (5, 7, 32, 17)


# --- MCAP ----------------------------------------------------------------------------------------

def test_the_mcap_bag_reads_back_with_rosbags_and_matches_the_messages(tmp_path):
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    sink = create_sink(McapSinkSettings(path=tmp_path / "run.mcap"), "cam0")
    frames = outputs(30)
    for out in frames:
        sink.send(out)
    sink.close()
    valid = [o for o in frames if o.pose.valid]
    with AnyReader([tmp_path / "run.mcap"], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == {
            "/hotstream/skeleton": "visualization_msgs/msg/MarkerArray", "/hotstream/joints": "geometry_msgs/msg/PoseArray"}
        joints = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
                  if c.topic == "/hotstream/joints"]
    assert len(joints) == len(valid)
    for msg, out in zip(joints, valid):
        points = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])
        np.testing.assert_allclose(points, expected_positions(out), atol=1e-6)
        assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == out.pose.t_capture_ns


def test_a_full_disk_is_a_counted_sink_failure():
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    runner = SinkRunner(create_sink(McapSinkSettings(path="/dev/full"), "cam0"), queue_size=4096, max_errors=3)
    for out in outputs(30) * 40:  # enough data to fill a chunk and flush it
        runner.send(out)
    runner.close()
    counts = runner.counts()
    assert counts["errors"] >= 1 and "No space left" in counts["last_error"]


# --- Foxglove ------------------------------------------------------------------------------------

def test_a_foxglove_websocket_client_gets_the_channels_and_decodes_the_skeleton():
    import websockets
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    sink = create_sink(FoxgloveSinkSettings(port=0), "cam0")
    frames = [o for o in outputs(10) if o.pose.valid]

    async def client() -> tuple[dict, list[bytes]]:
        async with websockets.connect(f"ws://127.0.0.1:{sink.port}",
                                      subprotocols=["foxglove.sdk.v1"]) as ws:
            channels: dict = {}
            while len(channels) < 2:
                message = json.loads(await ws.recv())
                if message["op"] == "advertise":
                    channels.update({c["topic"]: c for c in message["channels"]})
            await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                {"id": 1, "channelId": channels["/hotstream/skeleton"]["id"]}]}))
            await asyncio.sleep(0.2)
            for out in frames:
                sink.send(out)
            data = []
            while len(data) < len(frames):
                message = await asyncio.wait_for(ws.recv(), 5)
                if isinstance(message, bytes):
                    data.append(message)
            return channels, data

    try:
        channels, data = asyncio.run(client())
    finally:
        sink.close()
    channel = channels["/hotstream/skeleton"]
    assert channel["encoding"] == "protobuf" and channel["schemaName"] == "foxglove.SceneUpdate"
    pool = descriptor_pool.DescriptorPool()
    for proto in descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"])).file:
        pool.Add(proto)
    scene_update = message_factory.GetMessageClass(pool.FindMessageTypeByName("foxglove.SceneUpdate"))
    for out, frame in zip(frames, data):
        opcode, subscription, log_time = struct.unpack_from("<BIQ", frame)
        assert (opcode, subscription, log_time) == (1, 1, out.pose.t_capture_ns)
        entity = scene_update.FromString(frame[13:]).entities[0]
        joints = np.array([[s.pose.position.x, s.pose.position.y, s.pose.position.z] for s in entity.spheres])
        np.testing.assert_allclose(joints, expected_positions(out), atol=1e-6)
        assert len(entity.lines[0].points) == 32


# --- the seam ------------------------------------------------------------------------------------

class Stalling:
    name = "stalling"

    def __init__(self):
        self.release = threading.Event()

    def send(self, out):
        self.release.wait(30)

    def close(self):
        pass


class Raising:
    name = "raising"
    closed = False

    def describe(self, meta):
        raise RuntimeError("describe is broken")

    def send(self, out):
        raise OSError("the consumer went away")

    def close(self):
        Raising.closed = True


def test_a_stalled_and_a_failing_sink_leave_the_zeromq_stream_whole_and_are_counted():
    from stream.client import Subscriber
    from stream.config import load_settings
    from stream.pipeline import Pipeline

    settings = load_settings(None, ["source.as_fast_as_possible=true", "pipeline.max_frames=60",
                                    "publisher.endpoint=tcp://127.0.0.1:*", "lifter.backend=onnxruntime-cpu",
                                    f"source.uri={SAMPLE}", "publisher.wait_for_subscriber_s=10"])
    pipeline = Pipeline.from_settings(settings)
    stalling = Stalling()
    pipeline.sinks[:] = [SinkRunner(stalling, queue_size=4), SinkRunner(Raising(), max_errors=5)]
    poses = []
    stop = threading.Event()

    def subscribe():
        with Subscriber(pipeline.publisher.endpoint, "cam0") as sub:
            while not stop.is_set():
                message = sub.receive(timeout_s=0.1)
                if isinstance(message, wire.PoseFrame):
                    poses.append(message.seq)

    thread = threading.Thread(target=subscribe, daemon=True)
    thread.start()
    threading.Timer(20, stalling.release.set).start()  # let it go in the end, so close() returns
    report = pipeline.run()
    time.sleep(0.5)
    stop.set()
    thread.join(5)
    stalling.release.set()
    counts, sinks = report["counts"], report["info"]["sinks"]
    assert counts["unaccounted"] == 0 and len(poses) == counts["published"] > 0
    assert sinks["stalling"]["dropped"] > 0 and counts["sink_stalling_dropped"] == sinks["stalling"]["dropped"]
    assert sinks["raising"]["failed"] and sinks["raising"]["errors"] >= 5 and Raising.closed
    assert sinks["raising"]["sent"] == 0 and "the consumer went away" in sinks["raising"]["last_error"]


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_osc(name, *args, **kwargs):
        if name.startswith("pythonosc"):
            raise ModuleNotFoundError(f"No module named {name!r}", name="pythonosc")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "stream.sinks.vmc", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_osc)
    with pytest.raises(RuntimeError, match=r"the vmc sink needs the 'pythonosc' package: pip install 'hotstream\[vmc\]'"):
        create_sink(VmcSinkSettings(), "cam0")


def test_bad_sink_settings_are_one_line_errors(tmp_path):
    import subprocess
    import sys

    sink = create_sink(FoxgloveSinkSettings(port=0), "cam0")
    (tmp_path / "a-file").write_text("")
    try:
        for args, message in ((["--vmc", "nohost"], "expected HOST:PORT"),
                              (["--vmc", "no.such.host.invalid:39539"], "does not resolve"),
                              (["--foxglove", str(sink.port)], "cannot serve Foxglove"),
                              (["--mcap", str(tmp_path / "a-file" / "x.mcap")], "cannot write the MCAP file")):
            done = subprocess.run([sys.executable, "run_stream.py", "--source", str(SAMPLE), "--set",
                                   "pipeline.max_frames=1", "--endpoint", "tcp://127.0.0.1:*", *args],
                                  capture_output=True, text=True, timeout=120, cwd=ROOT)
            assert done.returncode == 2, (args, done.stderr)
            errors = [line for line in done.stderr.splitlines() if line.startswith("run_stream.py: error:")]
            assert len(errors) == 1 and message in errors[0] and "Traceback" not in done.stderr, done.stderr
    finally:
        sink.close()


def test_one_run_with_every_sink_records_and_bags_the_same_poses(tmp_path):
    """The real pipeline on the sample clip with the recording, VMC, ROS 2, MCAP and Foxglove
    sinks at once: nothing unaccounted, no sink dropping or failing, and the bag holds exactly
    the recording's poses."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    from stream.config import load_settings
    from stream.pipeline import Pipeline
    from stream.recorder import load_recording

    settings = load_settings(None, ["source.as_fast_as_possible=true", "pipeline.max_frames=45",
                                    "publisher.endpoint=tcp://127.0.0.1:*", "lifter.backend=onnxruntime-cpu",
                                    f"source.uri={SAMPLE}", "pipeline.print_report=false"],
                             extra_sinks=[{"type": "record", "path": tmp_path / "run.npz"},
                                          {"type": "vmc", "port": 9}, {"type": "ros2", "domain_id": 98},
                                          {"type": "mcap", "path": tmp_path / "run.mcap"},
                                          {"type": "foxglove", "port": 0}])
    report = Pipeline.from_settings(settings).run()
    sinks = report["info"]["sinks"]
    assert report["counts"]["unaccounted"] == 0 and set(sinks) == {"record", "vmc", "ros2", "mcap", "foxglove"}
    assert all(s["sent"] == report["counts"]["published"] and not s["dropped"] and not s["errors"]
               for s in sinks.values()), sinks
    recording = load_recording(tmp_path / "run.npz")
    valid = recording.data["valid"]
    with AnyReader([tmp_path / "run.mcap"], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        bagged = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages() if c.topic == "/hotstream/joints"]
    assert len(bagged) == int(valid.sum()) > 0
    root = np.nan_to_num(recording.data["root"][valid]) if "root" in recording.data else 0.0
    want = recording.data["pose3d"][valid] + (root[:, None, :] if np.ndim(root) else 0.0)
    got = np.array([[[p.position.x, p.position.y, p.position.z] for p in m.poses] for m in bagged])
    np.testing.assert_allclose(got, want, atol=1e-5)
