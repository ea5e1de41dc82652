"""Sources: pacing and drop counting with a fake clock, real decoding, rotation, image folders."""
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.sources import Source, VideoReader, open_source

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"
PERIOD_NS = 33_333_333  # 30 fps


class FakeClock:
    """Time only moves when someone sleeps or works, so pacing is checked exactly."""

    def __init__(self):
        self.now = 0
        self.sleeps = 0

    def monotonic_ns(self):
        return self.now

    def time_ns(self):
        return 1_000_000_000_000 + self.now

    def sleep(self, seconds):
        self.sleeps += 1
        self.now += round(seconds * 1e9)


class ListReader:
    """Frames numbered 0..n-1 as tiny images; reading or skipping one costs ``decode_ns``."""

    def __init__(self, n, clock, decode_ns=0):
        self.n, self.clock, self.decode_ns, self.next = n, clock, decode_ns, 0

    def skip(self):
        self.clock.now += self.decode_ns
        self.next += 1
        return self.next <= self.n

    def read(self):
        if self.next >= self.n:
            return None
        self.clock.now += self.decode_ns
        self.next += 1
        return np.full((2, 2, 3), self.next - 1, np.uint8)


def consume(source, clock, work_ns):
    frames = []
    for frame in source:
        frames.append(frame)
        clock.now += work_ns  # the pipeline's time with this frame
    return frames


def test_paced_source_delivers_every_frame_on_time_when_the_pipeline_keeps_up():
    clock = FakeClock()
    source = Source(ListReader(10, clock, decode_ns=1_000_000), "fake", fps=30, paced=True, clock=clock)
    frames = consume(source, clock, work_ns=PERIOD_NS // 2)
    assert [f.seq for f in frames] == list(range(10))
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(10))
    assert [f.t_capture_ns for f in frames] == [1_000_000_000_000 + i * PERIOD_NS for i in range(10)]
    assert source.frames_skipped == 0 and source.frames_delivered == 10
    assert clock.sleeps >= 9  # it waited for each frame's due time


def test_paced_source_skips_and_counts_frames_when_the_pipeline_falls_behind():
    clock = FakeClock()
    source = Source(ListReader(10, clock), "fake", fps=30, paced=True, clock=clock)
    frames = consume(source, clock, work_ns=5 * PERIOD_NS // 2 + 1000)  # 2.5 frame periods per frame
    # Frame 0 is taken at t=0 and released at 2.5 periods: frame 1's slot is over, frame 2's is
    # not; and so on. The image read is the one whose slot is current, never an old one.
    assert [f.seq for f in frames] == [0, 2, 5, 7]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 2, 5, 7]
    assert source.frames_skipped == 6 and source.frames_delivered + source.frames_skipped == 10
    assert all(f.t_capture_ns == 1_000_000_000_000 + f.seq * PERIOD_NS for f in frames)


def test_unpaced_source_delivers_every_frame_without_waiting():
    clock = FakeClock()
    source = Source(ListReader(10, clock, decode_ns=1000), "fake", fps=30, paced=False, clock=clock)
    frames = consume(source, clock, work_ns=5 * PERIOD_NS)
    assert [f.seq for f in frames] == list(range(10))
    assert source.frames_skipped == 0 and clock.sleeps == 0
    assert all(a.t_capture_ns < b.t_capture_ns for a, b in zip(frames, frames[1:]))


def test_sample_video_as_fast_as_possible_reads_every_frame_in_order():
    source = open_source(str(SAMPLE), as_fast_as_possible=True)
    try:
        frames = [(f.seq, f.image.shape, f.source_id) for f in source]
    finally:
        source.close()
    assert source.fps == pytest.approx(30.0)
    assert [s for s, _, _ in frames] == list(range(230))
    assert {shape for _, shape, _ in frames} == {(360, 640, 3)}
    assert {sid for _, _, sid in frames} == {"video:sample.mp4"}


def _set_rotation_90(path: Path) -> None:
    """Write the display matrix ffmpeg's ``-metadata:s:v rotate=90`` writes into the track header."""
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    assert tkhd > 0 and data[tkhd + 4] == 0, "expected a version-0 tkhd box"
    matrix_at = tkhd + 4 + 4 + 20 + 8 + 8  # version/flags, times and ids, reserved, layer..volume
    data[matrix_at:matrix_at + 36] = struct.pack(">9i", 0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def test_video_with_rotation_metadata_comes_out_upright(tmp_path):
    landscape = np.zeros((48, 64, 3), np.uint8)
    landscape[:24, :32] = 255  # white top-left quadrant
    path = tmp_path / "portrait.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for _ in range(3):
        writer.write(landscape)
    writer.release()
    _set_rotation_90(path)

    reader = VideoReader(path)
    image = reader.read()
    reader.close()
    assert image.shape == (64, 48, 3)  # stored landscape, displayed portrait
    expected = np.rot90(landscape, 1)   # what ffmpeg shows for this display matrix
    assert np.abs(image.astype(int) - expected).mean() < 10


def test_image_folder_in_name_order_counting_unreadable_files(tmp_path, caplog):
    """seq stays the index in the folder; a garbage file and a cut-short JPEG are invalid, named."""
    image = cv2.resize(cv2.VideoCapture(str(SAMPLE)).read()[1], (64, 36))
    for i in (4, 0, 2):
        cv2.imwrite(str(tmp_path / f"frame_{i:03d}.png"), np.full((8, 8, 3), i * 50, np.uint8))
    (tmp_path / "frame_001.jpg").write_bytes(b"not an image")
    whole = cv2.imencode(".jpg", image)[1].tobytes()
    (tmp_path / "frame_003.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path), as_fast_as_possible=True)
    with caplog.at_level("WARNING", logger="stream.sources"):
        frames = list(source)
    assert [(f.seq, int(f.image[0, 0, 0])) for f in frames] == [(0, 0), (2, 100), (4, 200)]
    assert source.frames_invalid == 2 and source.source_id == f"images:{tmp_path.name}"
    assert sorted(source.invalid_reasons) == [f"truncated JPEG {tmp_path / 'frame_003.jpg'}",
                                              f"unreadable image {tmp_path / 'frame_001.jpg'}"]
    assert "frame_001.jpg" in caplog.text and "frame_003.jpg" in caplog.text


def test_missing_or_bad_sources_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="source not found"):
        open_source(str(tmp_path / "nope.mp4"))
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="cannot decode"):
        open_source(str(tmp_path / "bad.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        open_source(str(tmp_path / "empty"))


class FakeCapture:
    """Stands in for a webcam (there is none on CI): 4 frames, then the device goes away for good."""

    opened = 0

    def __init__(self, index):
        self.index, self.props, self.left = index, {}, 4
        FakeCapture.opened += index == 0

    def isOpened(self):
        return self.index == 0 and FakeCapture.opened == 1

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def get(self, prop):
        return self.props.get(prop, 0.0)

    def read(self):
        self.left -= 1
        return (True, np.zeros((4, 6, 3), np.uint8)) if self.left >= 0 else (False, None)

    def release(self):
        pass


def test_camera_by_index_is_live_and_unpaced(monkeypatch):
    monkeypatch.setattr("stream.sources.cv2.VideoCapture", FakeCapture)
    source = open_source("0", camera_width=1280, camera_fps=60, reconnect_backoff_s=0.01, reconnect_timeout_s=0.1)
    cap = source.reader.device.cap
    assert cap.props[cv2.CAP_PROP_FRAME_WIDTH] == 1280 and cap.props[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert source.source_id == "camera:0" and not source.paced and source.fps == 60
    assert [f.seq for f in source] == [0, 1, 2, 3]  # then reconnecting fails until the timeout
    assert source.state() == "ended" and source.reader.reopen_failures >= 1
    with pytest.raises(RuntimeError, match="cannot open camera 1"):
        open_source("1")
