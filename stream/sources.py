"""Frame sources: a webcam by index, a video file, or a folder of images.

A video file or image folder is *paced* by default: frame ``i`` becomes available at
``start + i / fps`` on the wall clock, like a camera. A frame whose slot has already passed when
the reader gets to it is skipped and counted, as a camera overwrites a frame nobody fetched in
time. ``as_fast_as_possible`` turns pacing off and delivers every frame as soon as it is decoded.

Every frame carries its index in the source (``seq``; gaps are skipped frames), the wall-clock
time it became available (``t_capture_ns``) and the id of its source, so downstream stages never
mix two sources in one window.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 30.0


@dataclass
class Frame:
    image: np.ndarray  # BGR uint8 (H, W, 3), upright
    seq: int           # index of the frame in its source
    t_capture_ns: int  # wall clock (time.time_ns) when the frame became available
    t_read_ns: int     # wall clock when it was decoded and handed on
    source_id: str


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

    ``frames_delivered`` and ``frames_skipped`` count what happened; ``frames_failed`` counts
    frames the reader could not decode (an unreadable image in a folder).
    """

    def __init__(self, reader: _Reader, source_id: str, fps: float, paced: bool,
                 clock: Clock | None = None) -> None:
        self.reader, self.source_id, self.fps, self.paced = reader, source_id, fps, paced
        self.clock = clock or SystemClock()
        self.frames_delivered = self.frames_skipped = 0

    @property
    def frames_failed(self) -> int:
        return getattr(self.reader, "failed", 0)

    def __iter__(self) -> Iterator[Frame]:
        return self._paced() if self.paced else self._unpaced()

    def _unpaced(self) -> Iterator[Frame]:
        seq = 0
        while (image := self.reader.read()) is not None:
            now = self.clock.time_ns()
            self.frames_delivered += 1
            yield Frame(image, seq, now, now, self.source_id)
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
            wait = due - self.clock.monotonic_ns()
            if wait > 0:
                self.clock.sleep(wait / 1e9)
            self.frames_delivered += 1
            yield Frame(image, seq, wall_start + (due - start), self.clock.time_ns(), self.source_id)
            seq += 1

    def close(self) -> None:
        close = getattr(self.reader, "close", None)
        if close is not None:
            close()


class VideoReader:
    """A video file through OpenCV/FFmpeg, rotated upright from its orientation metadata."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"video file not found: {path}")
        self.cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self.cap.isOpened():
            raise ValueError(f"cannot decode video file: {path}")
        # OpenCV 4.11 reports the rotation tag but leaves auto-rotation off for files; turn it on
        # so phone videos shot in portrait come out upright.
        self.cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        if not fps or not np.isfinite(fps) or fps <= 0:
            log.warning("video %s has no frame rate; pacing it at %.0f fps", path, DEFAULT_FPS)
            fps = DEFAULT_FPS
        self.fps = float(fps)

    def skip(self) -> bool:
        return self.cap.grab()

    def read(self) -> np.ndarray | None:
        ok, image = self.cap.read()
        return image if ok else None

    def close(self) -> None:
        self.cap.release()


class ImageFolderReader:
    """Images of a folder in name order; cv2.imread applies their EXIF orientation."""

    def __init__(self, folder: Path) -> None:
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder: {folder}")
        self.next, self.failed = 0, 0

    def skip(self) -> bool:
        self.next += 1
        return self.next <= len(self.paths)

    def read(self) -> np.ndarray | None:
        while self.next < len(self.paths):
            path = self.paths[self.next]
            self.next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            self.failed += 1
            log.warning("skipping unreadable image %s", path)
        return None


class CameraReader:
    """A webcam by index. The driver paces it; we keep its buffer to one frame for low latency."""

    def __init__(self, index: int, width: int | None, height: int | None, fps: float | None) -> None:
        self.cap = cv2.VideoCapture(index)
        if not self.cap.isOpened():
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
        if not ok:
            log.warning("camera stopped delivering frames")
        return image if ok else None

    def close(self) -> None:
        self.cap.release()


def open_source(uri: str, as_fast_as_possible: bool = False, images_fps: float = DEFAULT_FPS,
                camera_width: int | None = None, camera_height: int | None = None,
                camera_fps: float | None = None, clock: Clock | None = None) -> Source:
    """A camera for an integer ``uri``, else a folder of images or a video file."""
    if uri.strip().isdigit():
        reader = CameraReader(int(uri), camera_width, camera_height, camera_fps)
        # A camera paces itself: reading blocks until the next frame exists.
        return Source(reader, f"camera:{int(uri)}", reader.fps, paced=False, clock=clock)
    path = Path(uri)
    if path.is_dir():
        return Source(ImageFolderReader(path), f"images:{path.name}", images_fps,
                      paced=not as_fast_as_possible, clock=clock)
    reader = VideoReader(path)
    return Source(reader, f"video:{path.name}", reader.fps, paced=not as_fast_as_possible, clock=clock)
