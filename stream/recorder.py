"""Record every message of a hotstream publisher, with its receive time, into one .npz file.

A recording keeps what a replay needs to put the same bytes back on the wire (each message's
topic, full header and arrays, and when it arrived) and, alongside, the pose rows stacked per
array name, so ``np.load(path)["pose3d"]`` works with no hotstream code at all. The layout is specified in ``docs/recording.md``.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import msgpack
import numpy as np

from stream import wire
from stream.client import Subscriber
from stream.wire import MetaFrame, PoseFrame

FORMAT = "hotstream-recording"
FORMAT_VERSION = 1
_POSE_FIELDS = ("seq", "valid", "person", "image_size", "t_capture_ns", "t_publish_ns", "lookahead", "fps")
STOP_POLL_S = 0.05   # how often a recorder with a ``stop`` event looks at it
DRAIN_S = 0.3        # once stopped, read on until the socket has been quiet this long


class Recorder:
    """Collects messages as they arrive; :meth:`save` writes them as a recording."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self.messages: list[PoseFrame | MetaFrame] = []
        self.t_receive_ns: list[int] = []
        self.rejected = 0  # messages that were not wire-format messages (counted by :func:`record`)

    def __len__(self) -> int:
        return len(self.topics)

    def add(self, parts: list[bytes], t_receive_ns: int | None = None) -> PoseFrame | MetaFrame:
        """Keep one raw multipart message (validated by decoding it); returns the decoded message.

        ``t_receive_ns`` defaults to now (``time.time_ns``, the clock of ``t_capture_ns``).
        Raises ValueError for anything that is not a wire-format message.
        """
        return self.keep(wire.decode(parts), t_receive_ns)

    def keep(self, message: PoseFrame | MetaFrame, t_receive_ns: int | None = None) -> PoseFrame | MetaFrame:
        """Keep a message a :class:`~stream.client.Subscriber` has already decoded."""
        topic = wire.meta_topic if isinstance(message, MetaFrame) else wire.pose_topic
        self.topics.append(topic(message.stream_id).decode())
        self.messages.append(message)
        self.t_receive_ns.append(time.time_ns() if t_receive_ns is None else t_receive_ns)
        return message

    def save(self, path: str | Path) -> Path:
        """Write the recording (``np.savez_compressed``); raises ValueError when it holds no pose."""
        poses = [m for m in self.messages if isinstance(m, PoseFrame)]
        if not poses:
            raise ValueError(f"nothing to save: {len(self)} messages received, none of them a pose")
        is_pose = np.array([isinstance(m, PoseFrame) for m in self.messages], dtype=bool)
        out: dict[str, np.ndarray] = {
            "format": np.array(FORMAT),
            "format_version": np.array(FORMAT_VERSION),
            "topic": np.array(self.topics),
            "t_receive_ns": np.array(self.t_receive_ns, dtype=np.int64),
            "headers": np.frombuffer(msgpack.packb([_header(m) for m in self.messages]), dtype=np.uint8),
            "pose_row": np.where(is_pose, np.cumsum(is_pose) - 1, -1),
            "stream_id": np.array([m.stream_id for m in poses]),
        }
        for name in _POSE_FIELDS:
            out[name] = np.array([m.header[name] for m in poses])
        stacked = _stack_arrays([m.arrays for m in poses])
        if clash := set(stacked) & set(out):
            raise ValueError(f"array names {sorted(clash)} clash with the recording's own keys")
        out.update(stacked)
        stages = list(dict.fromkeys(k for m in poses for k in m.stages_ms))
        out["stages_ms"] = np.array([[m.stages_ms.get(k, np.nan) for k in stages] for m in poses], dtype=np.float64)
        out["stage_names"] = np.array(stages)
        metas = [m.description for m in self.messages if isinstance(m, MetaFrame)]
        if metas and "joint_names" in metas[-1]:
            out["joint_names"] = np.array(metas[-1]["joint_names"])
            out["parents"] = np.array(metas[-1]["parents"])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:  # a file object, so numpy does not append ".npz" to the name
            np.savez_compressed(file, **out)
        return path


def _header(message: PoseFrame | MetaFrame) -> dict:
    return message.header if isinstance(message, PoseFrame) else message.description


def _stack_arrays(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One array per name, a row per pose message; rows without it hold NaN (0 for integers)."""
    stacked = {}
    for name in dict.fromkeys(n for row in rows for n in row):
        first = next(row[name] for row in rows if name in row)
        fill = np.nan if np.issubdtype(first.dtype, np.floating) else 0
        if any(name in row and row[name].shape != first.shape for row in rows):
            raise ValueError(f"array {name!r} changes shape within the recording; cannot stack it")
        stacked[name] = np.stack([row[name] if name in row else np.full(first.shape, fill, first.dtype) for row in rows])
    return stacked


@dataclass
class Recording:
    """A recording read back: the messages in arrival order, and the stacked pose arrays."""

    topics: list[str]
    headers: list[dict]
    t_receive_ns: np.ndarray
    pose_row: np.ndarray
    data: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.topics)

    def message(self, k: int, header: dict | None = None) -> list[bytes]:
        """Message ``k`` as multipart bytes, as it was received (or with ``header`` in its place)."""
        header = self.headers[k] if header is None else header
        parts = [self.topics[k].encode(), msgpack.packb(header)]
        if self.pose_row[k] >= 0:
            row = self.pose_row[k]
            for spec in header["arrays"]:
                array = self.data[spec["name"]][row]
                parts.append(np.ascontiguousarray(array, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"]).tobytes())
        return parts

    def decoded(self) -> Iterator[PoseFrame | MetaFrame]:
        """Every message, decoded as a subscriber would see it."""
        for k in range(len(self)):
            yield wire.decode(self.message(k))


def load_recording(path: str | Path) -> Recording:
    """Read a recording written by :meth:`Recorder.save`; a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not an .npz file: {err}") from None
    with npz:
        if "format" not in npz.files or str(npz["format"]) != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} (no recorded messages in it; "
                             f"record with tools/subscribe.py --record or run_stream.py --record)")
        if int(npz["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"{path}: recording format version {int(npz['format_version'])}, "
                             f"this code reads {FORMAT_VERSION}")
        data = {name: npz[name] for name in npz.files}
    headers = msgpack.unpackb(data.pop("headers").tobytes())
    topics = [str(t) for t in data.pop("topic")]
    if len(headers) != len(topics):
        raise ValueError(f"{path}: {len(headers)} headers for {len(topics)} messages")
    return Recording(topics, headers, data.pop("t_receive_ns"), data.pop("pose_row"), data)


def record(endpoint: str, stream_id: str | None = None, duration_s: float | None = None,
           count: int | None = None, idle_timeout_s: float | None = None,
           stop: threading.Event | None = None) -> Recorder:
    """Subscribe to ``endpoint`` (one stream, or all when ``stream_id`` is None) and keep every
    message until ``duration_s`` passes, ``count`` pose messages have arrived, ``idle_timeout_s``
    passes without a message, Ctrl-C, or ``stop`` is set (then what is already on its way is still
    read, until the socket has been quiet for ``DRAIN_S``). Undecodable messages are counted in
    ``rejected``."""
    recorder, poses = Recorder(), 0
    wanted = None if stream_id is None else {wire.pose_topic(stream_id), wire.meta_topic(stream_id)}
    deadline = None if duration_s is None else time.monotonic() + duration_s
    last = time.monotonic()   # last message (or the start)
    stopped_at = None
    with Subscriber(endpoint, stream_id) as sub:
        try:
            while count is None or poses < count:
                now = time.monotonic()
                if stopped_at is None and stop is not None and stop.is_set():
                    stopped_at = now
                ends = [t for t in (deadline, None if idle_timeout_s is None else last + idle_timeout_s,
                                    None if stopped_at is None else max(last, stopped_at) + DRAIN_S) if t is not None]
                if ends and now >= min(ends):
                    break
                wakes = ends + ([now + STOP_POLL_S] if stop is not None and stopped_at is None else [])
                if not sub.socket.poll(int((min(wakes) - now) * 1000) + 1 if wakes else None):
                    continue
                parts = sub.socket.recv_multipart()
                t_receive_ns, last = time.time_ns(), time.monotonic()
                if wanted is not None and parts[0] not in wanted:  # topics match by prefix only
                    continue
                try:
                    poses += isinstance(recorder.add(parts, t_receive_ns), PoseFrame)
                except ValueError:
                    recorder.rejected += 1
        except KeyboardInterrupt:
            pass
    return recorder
