"""Wire format v1: how poses and stream descriptions are laid out in ZeroMQ messages.

Kept apart from the sockets (``stream.publisher``) so consumers and tests can encode and decode
without a network. The format is specified in ``docs/wire-format.md``; in short:

* pose:  ``[b"pose3d/<stream_id>", msgpack(header), *array_buffers]``; ``header["arrays"]`` lists
  ``{name, dtype, shape}`` for the buffers that follow, in order (raw C-order bytes,
  little-endian).
* meta:  ``[b"meta/<stream_id>", msgpack(description)]``, sent at start, on each new subscription
  and every second, so a consumer can join at any time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from stream.record import FrameRecord

VERSION = 1
POSE_PREFIX = "pose3d/"
META_PREFIX = "meta/"


def pose_topic(stream_id: str) -> bytes:
    return f"{POSE_PREFIX}{stream_id}".encode()


def meta_topic(stream_id: str) -> bytes:
    return f"{META_PREFIX}{stream_id}".encode()


def plain(value: Any) -> Any:
    """Anything JSON/msgpack cannot hold (paths, numpy scalars) as text."""
    return json.loads(json.dumps(value, default=str))


def _le(array: np.ndarray, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))


def encode_pose(rec: FrameRecord, stream_id: str, lookahead: int, fps: float, t_publish_ns: int,
                pub_seq: int = 0) -> list[bytes]:
    """The multipart message for one lifted frame; ``pub_seq`` numbers the stream's pose messages."""
    arrays = {
        "pose3d": _le(rec.pose3d, "f4"),
        "pose2d": _le(rec.pose2d.h36m_pixels(), "f4"),
        "score": _le(rec.pose2d.h36m_scores(), "f4"),
    }
    if rec.root is not None:
        arrays["root"] = _le(rec.root, "f4")
    header = {
        "v": VERSION,
        "seq": rec.seq,
        "stream_id": stream_id,
        "valid": rec.valid,
        "confident": rec.confident,
        "pub_seq": pub_seq,
        "person": rec.pose2d.person_id,
        "t_capture_ns": rec.t_capture_ns,
        "t_publish_ns": t_publish_ns,
        "stages_ms": {k: round(v, 3) for k, v in rec.stages_ms().items()},
        "lookahead": lookahead,
        "fps": fps,
        "image_size": list(rec.image_size),
        "arrays": [{"name": k, "dtype": a.dtype.str, "shape": list(a.shape)} for k, a in arrays.items()],
    }
    return [pose_topic(stream_id), msgpack.packb(header), *(a.tobytes() for a in arrays.values())]


def encode_meta(stream_id: str, description: dict) -> list[bytes]:
    return [meta_topic(stream_id), msgpack.packb({"v": VERSION, "stream_id": stream_id, **description})]


@dataclass
class PoseFrame:
    """A decoded pose message: the header's fields plus its arrays as numpy."""

    seq: int
    stream_id: str
    valid: bool
    t_capture_ns: int
    t_publish_ns: int
    stages_ms: dict[str, float]
    lookahead: int
    fps: float
    header: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def pose3d(self) -> np.ndarray:
        return self.arrays["pose3d"]

    @property
    def confident(self) -> bool:
        """Valid, and the key joints were seen well enough (see docs/wire-format.md)."""
        return bool(self.header.get("confident", False))

    @property
    def pub_seq(self) -> int | None:
        """Index of this message among the stream's pose messages; gaps are messages lost."""
        return self.header.get("pub_seq")


@dataclass
class MetaFrame:
    """A decoded stream description."""

    stream_id: str
    description: dict


def decode(parts: list[bytes]) -> PoseFrame | MetaFrame:
    """Inverse of :func:`encode_pose` / :func:`encode_meta`. Raises ValueError on anything else."""
    if len(parts) < 2:
        raise ValueError(f"expected a multipart message of at least 2 frames, got {len(parts)}")
    topic = bytes(parts[0]).decode()
    header = msgpack.unpackb(parts[1])
    if header.get("v") != VERSION:
        raise ValueError(f"unsupported wire version {header.get('v')!r} on topic {topic!r}; this client reads v{VERSION}")
    if topic.startswith(META_PREFIX):
        return MetaFrame(header["stream_id"], header)
    if not topic.startswith(POSE_PREFIX):
        raise ValueError(f"unknown topic {topic!r}")
    specs = header["arrays"]
    if len(specs) != len(parts) - 2:
        raise ValueError(f"header lists {len(specs)} arrays but the message carries {len(parts) - 2}")
    arrays = {s["name"]: np.frombuffer(buf, dtype=s["dtype"]).reshape(s["shape"]) for s, buf in zip(specs, parts[2:])}
    return PoseFrame(header["seq"], header["stream_id"], header["valid"], header["t_capture_ns"],
                     header["t_publish_ns"], header["stages_ms"], header["lookahead"], header["fps"],
                     header, arrays)
