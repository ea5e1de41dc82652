"""Frame sources: a webcam by index, a video file, or a folder of images.

A video file or image folder is *paced* by default: frame ``i`` becomes available at
``start + i / fps`` on the wall clock, like a camera. A frame whose slot has already passed when
the reader gets to it is skipped and counted, as a camera overwrites a frame nobody fetched in
time. ``as_fast_as_possible`` turns pacing off and delivers every frame as soon as it is decoded.

Every frame carries its index in the source (``seq``; gaps are skipped or invalid frames), the
wall-clock time it became available (``t_capture_ns``), the id of its source and an ``epoch``
that changes at every discontinuity (camera reconnected, a stall, a looped video restarting), so
downstream stages never put two sources, or both sides of a gap, in one window.

Faults are handled here and counted, never passed on: a frame that is not a BGR uint8
(H, W, 3) image is skipped (``frames_invalid``); a camera that stops delivering is closed and
reopened with exponential backoff (:class:`ReconnectingReader`), its ``state`` saying so.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 30.0
FAILED_READS_BEFORE_REOPEN = 3  # a single failed read is a glitch; several in a row, a lost device
# Source states, as published in the meta message's ``source_state``.
OK, RECONNECTING, STALLED, ENDED = "ok", "reconnecting", "stalled", "ended"


@dataclass
class Frame:
    image: np.ndarray  # BGR uint8 (H, W, 3), upright
    seq: int           # index of the frame in its source
    t_capture_ns: int  # wall clock (time.time_ns) when the frame became available
    t_read_ns: int     # wall clock when it was decoded and handed on
    source_id: str
    epoch: int = 0     # changes at every discontinuity: no window may span two epochs


@dataclass
class Unreadable:
    """What a reader returns for a frame it could not decode, in its place, so the frame keeps
    its index (``seq``) and is counted as invalid, with ``reason`` naming the file."""

    reason: str


def check_image(image) -> str | None:
    """Why ``image`` is not a usable frame (BGR uint8, (H, W, 3)), or None when it is."""
    if not isinstance(image, np.ndarray):
        return f"not an image array ({type(image).__name__})"
    if image.dtype != np.uint8:
        return f"dtype {image.dtype}, expected uint8"
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        return f"shape {image.shape}, expected (H, W, 3)"
    return None


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...
    def time_ns(self) -> int: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clocks; tests substitute a fake one to check pacing without flaky timing."""

    monotonic_ns = staticmethod(time.monotonic_ns)
    time_ns = staticmethod(time.time_ns)
    sleep = staticmethod(time.sleep)


class _Reader(Protocol):
    def skip(self) -> bool: ...
    def read(self) -> np.ndarray | None: ...


class Source:
    """Iterates frames from a reader, paced at ``fps`` or as fast as possible.

    ``frames_delivered`` and ``frames_skipped`` count what happened; ``frames_invalid`` counts
    frames the reader could not decode (an unreadable image in a folder, named) and images of
    the wrong type, dtype or shape (``invalid_reasons`` says which). With ``stall_s``
    set, a pause longer than that between two frames starts a new epoch, and :meth:`state`
    reports ``stalled`` while the pause lasts.
    """

    def __init__(self, reader: _Reader, source_id: str, fps: float, paced: bool,
                 clock: Clock | None = None, stall_s: float | None = None) -> None:
        self.reader, self.source_id, self.fps, self.paced = reader, source_id, fps, paced
        self.clock = clock or SystemClock()
        self.stall_s = stall_s
        self.frames_delivered = self.frames_skipped = self.frames_invalid = self.stalls = 0
        self.invalid_reasons: Counter[str] = Counter()
        self.ended = False
        self._last_frame_ns: int | None = None  # monotonic time of the last frame delivered

    @property
    def epoch(self) -> int:
        return self.stalls + getattr(self.reader, "epoch", 0)

    def state(self) -> str:
        """``ok``, ``reconnecting``, ``stalled`` (no frame for ``stall_s``) or ``ended``."""
        if self.ended:
            return ENDED
        reader_state = getattr(self.reader, "state", OK)
        if reader_state != OK:
            return reader_state
        return STALLED if self._idle_too_long() else OK

    def _idle_too_long(self) -> bool:
        """No frame for ``stall_s``, not counting time the reader spent reconnecting."""
        if self.stall_s is None or self._last_frame_ns is None:
            return False
        since = max(self._last_frame_ns, getattr(self.reader, "reconnected_ns", 0))
        return self.clock.monotonic_ns() - since > self.stall_s * 1e9

    def __iter__(self) -> Iterator[Frame]:
        try:
            yield from (self._paced() if self.paced else self._unpaced())
        finally:
            self.ended = True

    def _usable(self, image, seq: int) -> bool:
        """Count and log an unusable image; a bad frame is skipped, never passed downstream."""
        problem = image.reason if isinstance(image, Unreadable) else check_image(image)
        if problem is None:
            return True
        self.frames_invalid += 1
        self.invalid_reasons[problem] += 1
        if isinstance(image, Unreadable):
            log.warning("%s: skipping frame %d: %s", self.source_id, seq, problem)
        elif self.invalid_reasons[problem] == 1:
            log.warning("%s: skipping a frame: %s (further ones are counted, not logged)", self.source_id, problem)
        return False

    def _frame(self, image: np.ndarray, seq: int, t_capture_ns: int) -> Frame:
        if self._idle_too_long():
            self.stalls += 1
            log.warning("%s: no frame for over %.1f s; restarting the pose window", self.source_id, self.stall_s)
        self._last_frame_ns = self.clock.monotonic_ns()
        self.frames_delivered += 1
        return Frame(image, seq, t_capture_ns, self.clock.time_ns(), self.source_id, self.epoch)

    def _unpaced(self) -> Iterator[Frame]:
        seq = 0
        while (image := self.reader.read()) is not None:
            if self._usable(image, seq):
                yield self._frame(image, seq, self.clock.time_ns())
            seq += 1

    def _paced(self) -> Iterator[Frame]:
        period = round(1e9 / self.fps)
        start, wall_start = self.clock.monotonic_ns(), self.clock.time_ns()
        seq = 0
        while True:
            due = start + seq * period
            if self.clock.monotonic_ns() >= due + period:  # its slot is over: a newer frame exists
                if not self.reader.skip():
                    return
                self.frames_skipped += 1
                seq += 1
                continue
            image = self.reader.read()
            if image is None:
                return
            if self._usable(image, seq):
                wait = due - self.clock.monotonic_ns()
                if wait > 0:
                    self.clock.sleep(wait / 1e9)
                yield self._frame(image, seq, wall_start + (due - start))
            seq += 1

    def close(self) -> None:
        close = getattr(self.reader, "close", None)
        if close is not None:
            close()


class VideoReader:
    """A video file through OpenCV/FFmpeg, rotated upright from its orientation metadata.

    With ``loop`` it starts again from the first frame when it reaches the end (soak tests, demos);
    each restart is a new ``epoch``, so no pose window spans the jump.
    """

    def __init__(self, path: Path, loop: bool = False) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"video file not found: {path}")
        self.path, self.loop, self.epoch = path, loop, 0
        self.cap = self._open()
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        if not fps or not np.isfinite(fps) or fps <= 0:
            log.warning("video %s has no frame rate; pacing it at %.0f fps", path, DEFAULT_FPS)
            fps = DEFAULT_FPS
        self.fps = float(fps)

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise ValueError(f"cannot decode video file: {self.path}")
        # OpenCV 4.11 reports the rotation tag but leaves auto-rotation off for files; turn it on
        # so phone videos shot in portrait come out upright.
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        return cap

    def _rewind(self) -> bool:
        if not self.loop:
            return False
        self.cap.release()
        self.cap = self._open()
        self.epoch += 1
        return True

    def skip(self) -> bool:
        return self.cap.grab() or (self._rewind() and self.cap.grab())

    def read(self) -> np.ndarray | None:
        ok, image = self.cap.read()
        if not ok and self._rewind():
            ok, image = self.cap.read()
        return image if ok else None

    def close(self) -> None:
        self.cap.release()


class ImageFolderReader:
    """Images of a folder in name order; cv2.imread applies their EXIF orientation.

    A file that does not decode, or a JPEG cut short (libjpeg would decode it half grey, with a
    warning that does not name it), is returned as :class:`Unreadable`, naming the file.
    """

    def __init__(self, folder: Path) -> None:
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder: {folder}")
        self.next = 0

    def skip(self) -> bool:
        self.next += 1
        return self.next <= len(self.paths)

    def read(self) -> np.ndarray | Unreadable | None:
        if self.next >= len(self.paths):
            return None
        path = self.paths[self.next]
        self.next += 1
        if path.suffix.lower() in (".jpg", ".jpeg") and _truncated_jpeg(path):
            return Unreadable(f"truncated JPEG {path}")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        return image if image is not None else Unreadable(f"unreadable image {path}")


def _truncated_jpeg(path: Path) -> bool:
    """Whether a JPEG lacks its end-of-image marker after its last scan (no FF D9 can occur inside
    the scan data, where an FF byte is always followed by 00 or a restart marker)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False  # cv2.imread will fail on it too, and say so
    scan = data.rfind(b"\xff\xda")
    return scan >= 0 and data.find(b"\xff\xd9", scan) < 0


class CameraReader:
    """A webcam by index. The driver paces it; we keep its buffer to one frame for low latency."""

    def __init__(self, index: int, width: int | None, height: int | None, fps: float | None) -> None:
        self.cap = cv2.VideoCapture(index)
        if not self.cap.isOpened():
            self.cap.release()
            raise RuntimeError(f"cannot open camera {index}")
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                            (cv2.CAP_PROP_FPS, fps)):
            if value is not None:
                self.cap.set(prop, value)
        reported = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported) if reported and reported > 0 else DEFAULT_FPS

    def skip(self) -> bool:
        return self.cap.grab()

    def read(self) -> np.ndarray | None:
        ok, image = self.cap.read()
        return image if ok else None

    def close(self) -> None:
        self.cap.release()


class ReconnectingReader:
    """A device that can go away (a webcam unplugged) and come back.

    After ``FAILED_READS_BEFORE_REOPEN`` failed reads in a row it closes the device and tries to
    open it again, waiting ``backoff_s``, then twice as long each time up to ``backoff_max_s``,
    until it opens (a new ``epoch``; ``state`` back to ``ok``), ``timeout_s`` has passed (the
    source ends; None: never give up) or ``stop`` is set. ``state`` is ``reconnecting`` meanwhile.
    The first open is not retried: a device that is not there at start is a configuration error.
    """

    def __init__(self, open_device: Callable[[], _Reader], backoff_s: float = 0.5, backoff_max_s: float = 5.0,
                 timeout_s: float | None = None, stop: threading.Event | None = None) -> None:
        self.open_device, self.backoff_s, self.backoff_max_s = open_device, backoff_s, backoff_max_s
        self.timeout_s, self.stop = timeout_s, stop or threading.Event()
        self.device: _Reader | None = open_device()
        self.fps = getattr(self.device, "fps", DEFAULT_FPS)
        self.state, self.epoch = OK, 0
        self.reconnected_ns = 0  # time.monotonic_ns() of the last reconnect
        self.read_failures = self.reconnects = self.reopen_failures = 0
        self._failed_in_row = 0

    def skip(self) -> bool:
        return self.read() is not None

    def read(self) -> np.ndarray | None:
        while not self.stop.is_set():
            if self.device is None and not self._reopen():
                return None
            image = self.device.read()
            if image is not None:
                self._failed_in_row = 0
                return image
            self.read_failures += 1
            self._failed_in_row += 1
            if self._failed_in_row >= FAILED_READS_BEFORE_REOPEN:
                log.warning("camera stopped delivering frames; reconnecting")
                self._close_device()
        return None

    def _reopen(self) -> bool:
        self.state = RECONNECTING
        deadline = time.monotonic() + self.timeout_s if self.timeout_s is not None else float("inf")
        delay = self.backoff_s
        while not self.stop.wait(max(0.0, min(delay, deadline - time.monotonic()))):
            try:
                self.device = self.open_device()
            except (RuntimeError, OSError, ValueError) as err:
                self.reopen_failures += 1
                log.info("reconnect failed (%s); next try in %.1f s", err, min(2 * delay, self.backoff_max_s))
                if time.monotonic() >= deadline:
                    log.warning("camera did not come back within %.1f s; ending", self.timeout_s)
                    self.state = ENDED
                    return False
                delay = min(2 * delay, self.backoff_max_s)
                continue
            self.reconnects += 1
            self.epoch += 1
            self.reconnected_ns = time.monotonic_ns()
            self._failed_in_row = 0
            self.state = OK
            log.warning("camera reconnected")
            return True
        return False

    def _close_device(self) -> None:
        if self.device is not None:
            close = getattr(self.device, "close", None)
            if close is not None:
                close()
            self.device = None

    def close(self) -> None:
        self._close_device()


def open_source(uri: str, as_fast_as_possible: bool = False, images_fps: float = DEFAULT_FPS,
                camera_width: int | None = None, camera_height: int | None = None,
                camera_fps: float | None = None, clock: Clock | None = None, loop: bool = False,
                reconnect_backoff_s: float = 0.5, reconnect_backoff_max_s: float = 5.0,
                reconnect_timeout_s: float | None = None, stall_s: float | None = None,
                stop: threading.Event | None = None) -> Source:
    """A camera for an integer ``uri``, else a folder of images or a video file.

    ``stall_s`` applies to live sources only (a camera, or a paced file): offline reading waits
    for the pipeline, so a pause there is not a stall.
    """
    if uri.strip().isdigit():
        index = int(uri)
        reader = ReconnectingReader(lambda: CameraReader(index, camera_width, camera_height, camera_fps),
                                    reconnect_backoff_s, reconnect_backoff_max_s, reconnect_timeout_s, stop)
        # A camera paces itself: reading blocks until the next frame exists.
        return Source(reader, f"camera:{index}", reader.fps, paced=False, clock=clock, stall_s=stall_s)
    path = Path(uri)
    if not path.exists():
        raise FileNotFoundError(f"source not found: {uri} (a camera index, a video file or a folder of images)")
    live_stall_s = None if as_fast_as_possible else stall_s
    if path.is_dir():
        return Source(ImageFolderReader(path), f"images:{path.name}", images_fps,
                      paced=not as_fast_as_possible, clock=clock, stall_s=live_stall_s)
    reader = VideoReader(path, loop=loop)
    return Source(reader, f"video:{path.name}", reader.fps, paced=not as_fast_as_possible, clock=clock,
                  stall_s=live_stall_s)
