"""Fault injection: a camera that returns garbage, fails, is unplugged, stalls and goes away for
good, driving the real pipeline (real MediaPipe, the shipped lifter, a real subscriber on
loopback); plus the fault policies of each stage on their own.

The camera is the only stand-in (there is no webcam on CI): it serves the real sample clip's
frames at 30 fps and injects its faults at chosen reads.
"""
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engines.runtime import load_engine
from stream.client import MetaFrame, Subscriber
from stream.config import load_settings
from stream.lifter import LifterStage
from stream.pipeline import Pipeline
from stream.pose2d import Pose2D
from stream.record import FrameRecord
from stream.sources import ReconnectingReader, Source, VideoReader, check_image

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"

# read index -> fault; reads not listed deliver the next frame of the clip
SCRIPT = {5: "wrong_shape", 6: "wrong_dtype", 7: "not_an_array", 8: "glitch",
          25: "unplug", 50: "stall", 75: "gone"}


class FaultyCamera:
    """The camera as the pipeline sees it: ``open()`` gives a device, or raises while unplugged."""

    def __init__(self, script: dict[int, str], failed_opens: int = 2, stall_s: float = 1.5):
        self.script, self.failed_opens, self.stall_s = script, failed_opens, stall_s
        self.video = VideoReader(SAMPLE, loop=True)
        self.reads = self.opens_refused = 0
        self.unplugged = self.gone = False
        self._refuse = 0

    def open(self) -> "FaultyCamera":
        if self.gone or self._refuse:
            self._refuse = max(0, self._refuse - 1)
            self.opens_refused += 1
            raise RuntimeError("cannot open camera 0")
        self.unplugged = False
        return self

    def read(self):
        fault = self.script.get(self.reads)
        self.reads += 1
        time.sleep(1 / 30)  # a camera delivers at its frame rate
        if self.unplugged or self.gone:
            return None
        if fault in ("unplug", "gone"):
            self.unplugged, self.gone = True, fault == "gone"
            self._refuse = self.failed_opens
            return None
        if fault == "stall":
            time.sleep(self.stall_s)
        image = self.video.read()
        return {"wrong_shape": image[..., 0] if image is not None else None,
                "wrong_dtype": image.astype(np.float32) if image is not None else None,
                "not_an_array": "garbage", "glitch": None}.get(fault, image)

    def close(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NaNEvery:
    """Wraps the real 2D stage so every ``n``-th result has a NaN landmark."""

    def __init__(self, pose2d, n: int):
        self.pose2d, self.n, self.calls = pose2d, n, 0

    def estimate(self, image, t_ms):
        self.calls += 1
        people = self.pose2d.estimate(image, t_ms)
        if people and self.calls % self.n == 0:
            people[0].landmarks_px = people[0].landmarks_px.copy()
            people[0].landmarks_px[3, 0] = np.nan
        return people

    def close(self):
        self.pose2d.close()


@pytest.fixture(scope="module")
def faulty_run():
    camera = FaultyCamera(SCRIPT)
    reader = ReconnectingReader(camera.open, backoff_s=0.1, backoff_max_s=0.4, timeout_s=1.0)
    source = Source(reader, "camera:0", 30.0, paced=False, stall_s=0.5)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    settings = load_settings(values={"publisher.endpoint": endpoint, "publisher.wait_for_subscriber_s": 30,
                                     "pipeline.print_report": False})
    pipeline = Pipeline.from_settings(settings, source=source)
    pipeline.pose2d = NaNEvery(pipeline.pose2d, 7)
    events, done = [], threading.Event()
    sub = Subscriber(endpoint, "cam0")

    def receive():
        while not done.is_set() or sub.socket.poll(300):
            message = sub.receive(timeout_s=0.3)
            if isinstance(message, MetaFrame):
                events.append(("state", message.description["source_state"]))
            elif message is not None:
                events.append(("pose", message))

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        report = pipeline.run()
    finally:
        done.set()
        receiver.join()
        sub.close()
    return {"report": report, "events": events, "camera": camera, "reader": reader}


def state_changes(events) -> list[str]:
    states = [value for kind, value in events if kind == "state"]
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]


def test_consumers_are_told_the_source_state_and_poses_resume_after_each_fault(faulty_run):
    events = faulty_run["events"]
    assert state_changes(events) == ["ok", "reconnecting", "ok", "stalled", "ok", "reconnecting", "ended"]
    # poses arrive in each "ok" stretch: before the unplug, after the reconnect, after the stall
    changes, poses_after = 0, {}
    for i, (kind, value) in enumerate(events):
        if kind == "state":
            changes += i > 0 and value != events_state_before(events, i)
        else:
            poses_after[changes] = poses_after.get(changes, 0) + 1
    assert all(poses_after.get(k, 0) > 0 for k in (0, 2, 4)), poses_after


def events_state_before(events, i) -> str | None:
    return next((value for kind, value in reversed(events[:i]) if kind == "state"), None)


def test_what_consumers_receive_is_finite_complete_and_in_order(faulty_run):
    poses = [value for kind, value in faulty_run["events"] if kind == "pose"]
    assert poses and [p.pub_seq for p in poses] == list(range(len(poses)))  # nothing lost
    assert all(b.seq > a.seq for a, b in zip(poses, poses[1:]))
    for p in poses:
        assert all(np.isfinite(a).all() for a in p.arrays.values())
        assert p.valid or not p.confident
    counts = faulty_run["report"]["counts"]
    assert len(poses) == counts["published"]


def test_every_fault_is_counted(faulty_run):
    counts, info = faulty_run["report"]["counts"], faulty_run["report"]["info"]
    assert counts["invalid_frames"] == 3
    assert sorted(info["invalid_frame_reasons"]) == ["dtype float32, expected uint8", "not an image array (str)",
                                                     "shape (360, 640), expected (H, W, 3)"]
    assert counts["camera_reconnects"] == 1
    assert counts["camera_reopen_failures"] == faulty_run["camera"].opens_refused >= 3
    assert counts["camera_read_failures"] == 1 + 3 + 3  # the glitch, then 3 in a row before each reopen
    assert counts["source_stalls"] == 1
    assert counts["window_restarts_at_gaps"] >= 1  # nobody in view at a gap restarts nothing
    assert counts["non_finite_2d"] >= 1
    assert counts["unaccounted"] == 0


def test_a_source_skips_and_counts_frames_that_are_not_images():
    class Garbage:
        items = [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float64),
                 np.zeros((0, 4, 3), np.uint8), [1, 2], np.ones((4, 4, 3), np.uint8)]

        def read(self):
            return self.items.pop(0) if self.items else None

    source = Source(Garbage(), "camera:x", 30.0, paced=False)
    frames = list(source)
    assert [f.seq for f in frames] == [0, 5] and source.frames_invalid == 4
    assert check_image(np.zeros((2, 2, 3), np.uint8)) is None and source.state() == "ended"


def test_reconnecting_reader_backs_off_reopens_and_can_be_stopped():
    camera = FaultyCamera({2: "unplug"}, failed_opens=2)
    reader = ReconnectingReader(camera.open, backoff_s=0.01, backoff_max_s=0.02)
    images = [reader.read() for _ in range(4)]
    assert all(i is not None for i in images) and reader.reconnects == 1 and reader.epoch == 1
    assert camera.opens_refused == 2 and reader.state == "ok"

    camera.gone = camera.unplugged = True  # never comes back; no timeout: only stop ends it
    result = []
    worker = threading.Thread(target=lambda: result.append(reader.read()))
    worker.start()
    while reader.state != "reconnecting":
        time.sleep(0.01)
    reader.stop.set()
    worker.join(10)
    assert not worker.is_alive() and result == [None]


def test_a_looped_video_keeps_counting_and_starts_a_new_epoch():
    source = Source(VideoReader(SAMPLE, loop=True), "video:sample.mp4", 30.0, paced=False)
    frames = []
    for frame in source:
        frames.append((frame.seq, frame.epoch))
        if len(frames) == 235:
            break
    assert [s for s, _ in frames] == list(range(235))
    assert {e for s, e in frames if s < 230} == {0} and {e for s, e in frames if s >= 230} == {1}


def frame(seq, epoch=0, person=True, score=1.0):
    rec = FrameRecord(seq, "camera:0", seq * 33_000_000, (640, 360), epoch=epoch)
    if person:
        rng = np.random.default_rng(seq)
        rec.people = [Pose2D(rng.uniform(100, 300, (33, 2)).astype(np.float32), np.full(33, score, np.float32),
                             np.zeros((33, 3), np.float32), (640, 360))]
    return rec


@pytest.fixture(scope="module")
def engine():
    return load_engine(backend="torch", threads=1)


def test_no_window_spans_a_source_gap(engine):
    stage = LifterStage(engine, hold_frames=5, root=False)
    out = []
    for rec in [frame(0), frame(1), frame(2, epoch=1, person=False), frame(3, epoch=1)]:
        out += stage.process([rec])
    # the no-person frame right after the gap is not held from before it
    assert [r.seq for r in out] == [0, 1, 3] and stage.held == 0 and stage.epoch_restarts == 1


class NaNAt:
    """The real engine, with NaN in the output of chosen calls (a corrupt weight, an overflow)."""

    def __init__(self, engine, calls):
        self.engine, self.calls, self.n = engine, calls, 0
        self.window, self.lookahead = engine.window, engine.lookahead

    def run(self, windows):
        out = np.array(self.engine.run(windows))
        if self.n in self.calls:
            out[:, 5, 1] = np.inf if self.n % 2 else np.nan
        self.n += 1
        return out


def test_non_finite_lifter_output_is_counted_and_never_handed_on(engine):
    stage = LifterStage(NaNAt(engine, {1, 2}), root=True)
    out = []
    for seq in range(5):
        out += stage.process([frame(seq)])
    assert [r.seq for r in out] == [0, 3, 4] and stage.non_finite == 2
    assert all(np.isfinite(r.pose3d).all() for r in out)


def test_a_partly_visible_person_is_published_but_not_confident(engine):
    stage = LifterStage(engine, root=False, min_key_score=0.5)
    low_hip = frame(1)
    low_hip.people[0].visibility[23] = 0.2  # MediaPipe's left hip
    out = stage.process([frame(0), low_hip, frame(2, person=False)])
    assert [(r.seq, r.valid, r.confident) for r in out] == [(0, True, True), (1, True, False), (2, False, False)]
    assert stage.not_confident == 2
