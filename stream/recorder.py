"""Record every message of a hotstream publisher, with its receive time, into one .npz file.

A recording keeps what a replay needs to put the same bytes back on the wire (each message's
topic, full header and arrays, and when it arrived) and, alongside, the pose rows stacked per
array name, so ``np.load(path)["pose3d"]`` works with no hotstream code at all. It is a superset
of what ``stream.client.save_npz`` writes. The layout is specified in ``docs/recording.md``.
"""
from __future__ import annotations

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
_POSE_FIELDS = ("seq", "valid", "t_capture_ns", "t_publish_ns", "lookahead", "fps")


class Recorder:
    """Collects messages as they arrive; :meth:`save` writes them as a recording."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self.headers: list[dict] = []
        self.arrays: list[dict[str, np.ndarray]] = []
        self.t_receive_ns: list[int] = []
        self.rejected = 0  # messages that were not wire-format messages (counted by :func:`record`)

    def __len__(self) -> int:
        return len(self.topics)

    def add(self, parts: list[bytes], t_receive_ns: int | None = None) -> PoseFrame | MetaFrame:
        """Keep one raw multipart message (validated by decoding it); returns the decoded message.

        ``t_receive_ns`` defaults to now (``time.time_ns``, the clock of ``t_capture_ns``).
        Raises ValueError for anything that is not a wire-format message.
        """
        t_receive_ns = time.time_ns() if t_receive_ns is None else t_receive_ns
        message = wire.decode(parts)
        self.topics.append(bytes(parts[0]).decode())
        if isinstance(message, PoseFrame):
            self.headers.append(message.header)
            self.arrays.append({name: array.copy() for name, array in message.arrays.items()})
        else:
            self.headers.append(message.description)
            self.arrays.append({})
        self.t_receive_ns.append(t_receive_ns)
        return message

    def save(self, path: str | Path) -> Path:
        """Write the recording (``np.savez_compressed``); raises ValueError when it holds no pose."""
        is_pose = np.array([topic.startswith(wire.POSE_PREFIX) for topic in self.topics], dtype=bool)
        if not is_pose.any():
            raise ValueError(f"nothing to save: {len(self)} messages received, none of them a pose")
        rows = np.flatnonzero(is_pose)
        out: dict[str, np.ndarray] = {
            "format": np.array(FORMAT),
            "format_version": np.array(FORMAT_VERSION),
            "topic": np.array(self.topics),
            "t_receive_ns": np.array(self.t_receive_ns, dtype=np.int64),
            "headers": np.frombuffer(msgpack.packb(self.headers), dtype=np.uint8),
            "pose_row": np.where(is_pose, np.cumsum(is_pose) - 1, -1),
        }
        headers = [self.headers[k] for k in rows]
        out["stream_id"] = np.array([h["stream_id"] for h in headers])
        for name in _POSE_FIELDS:
            out[name] = np.array([h[name] for h in headers])
        stacked = _stack_arrays([self.arrays[k] for k in rows])
        if clash := set(stacked) & set(out):
            raise ValueError(f"array names {sorted(clash)} clash with the recording's own keys")
        out.update(stacked)
        stages = list(dict.fromkeys(k for h in headers for k in h["stages_ms"]))
        out["stages_ms"] = np.array([[h["stages_ms"].get(k, np.nan) for k in stages] for h in headers], dtype=np.float64)
        out["stage_names"] = np.array(stages)
        metas = [h for h, t in zip(self.headers, self.topics) if t.startswith(wire.META_PREFIX)]
        if metas:
            out["joint_names"] = np.array(metas[-1]["joint_names"])
            out["parents"] = np.array(metas[-1]["parents"])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:  # a file object, so numpy does not append ".npz" to the name
            np.savez_compressed(file, **out)
        return path


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
            raise ValueError(f"{path} is not a {FORMAT} (no raw messages in it: pose arrays only, "
                             f"e.g. from stream.client.save_npz, cannot be replayed)")
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
           count: int | None = None, idle_timeout_s: float | None = None) -> Recorder:
    """Subscribe to ``endpoint`` (one stream, or all when ``stream_id`` is None) and keep every
    message until ``duration_s`` passes, ``count`` pose messages have arrived, ``idle_timeout_s``
    passes without a message, or Ctrl-C. Undecodable messages are counted in ``rejected``."""
    recorder, poses = Recorder(), 0
    wanted = None if stream_id is None else {wire.pose_topic(stream_id), wire.meta_topic(stream_id)}
    deadline = None if duration_s is None else time.monotonic() + duration_s
    with Subscriber(endpoint, stream_id) as sub:
        try:
            while count is None or poses < count:
                waits = [] if idle_timeout_s is None else [idle_timeout_s]
                if deadline is not None:
                    waits.append(deadline - time.monotonic())
                    if waits[-1] <= 0:
                        break
                if not sub.socket.poll(None if not waits else int(min(waits) * 1000) + 1):
                    break
                parts = sub.socket.recv_multipart()
                t_receive_ns = time.time_ns()
                if wanted is not None and parts[0] not in wanted:  # topics match by prefix only
                    continue
                try:
                    poses += isinstance(recorder.add(parts, t_receive_ns), PoseFrame)
                except ValueError:
                    recorder.rejected += 1
        except KeyboardInterrupt:
            pass
    return recorder
