"""Consumer side: subscribe to a hotstream publisher and get decoded frames as numpy.

    from stream.client import Subscriber

    with Subscriber("tcp://127.0.0.1:5556") as sub:
        for frame in sub.frames():
            print(frame.seq, frame.valid, frame.pose3d[0])   # pelvis, metres, camera coords

``sub.meta`` holds the latest stream description (joint names, parents, units, model, ...), and
``frames()`` yields no pose of a stream before its description: ZeroMQ does not order the
description a joining subscriber is sent before the poses already flowing, so poses that arrive
first are held back until it comes (or ``description_timeout_s`` passes: an error). ``sub.lost`` counts the pose messages this subscriber missed because it read too slowly (gaps in
the headers' ``pub_seq``). For a publisher with CurveZMQ on, pass this client's secret key file
and the server's public key file (``tools/keys.py`` writes both)::

    Subscriber(endpoint, curve_secret_key="keys/client.key_secret", curve_server_key="keys/server.key")
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import zmq
from zmq.utils.monitor import recv_monitor_message

from stream import wire
from stream.publisher import endpoint_problem, load_key
from stream.wire import MetaFrame, PoseFrame

__all__ = ["Subscriber", "PoseFrame", "MetaFrame"]

# The publisher sends the description to each new subscriber and every second: a stream whose
# poses come for this long without one is not a hotstream publisher.
DESCRIPTION_TIMEOUT_S = 5.0
# What a CurveZMQ client hears when the publisher turns its handshake down (a key not on the
# allow-list, the wrong server key); ZeroMQ itself would just retry for ever, in silence.
HANDSHAKE_FAILURES = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: "the publisher refused this client's key",
                      zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "the CurveZMQ handshake failed",
                      zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "the CurveZMQ handshake failed"}


class Subscriber:
    """A SUB socket on one stream (``stream_id``) or on every stream (``stream_id=None``)."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5556", stream_id: str | None = "cam0",
                 context: zmq.Context | None = None, rcv_hwm: int = 1000,
                 curve_secret_key: str | Path | None = None, curve_server_key: str | Path | None = None) -> None:
        if (problem := endpoint_problem(endpoint, bind=False)) is not None:
            raise ValueError(f"endpoint {problem}")
        if (curve_secret_key is None) != (curve_server_key is None):
            raise ValueError("CurveZMQ needs both curve_secret_key (this client's) and curve_server_key (the publisher's)")
        self.socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, rcv_hwm)
        self.socket.setsockopt(zmq.LINGER, 0)
        self._monitor: zmq.Socket | None = None
        if curve_secret_key is not None:
            self.socket.curve_publickey, self.socket.curve_secretkey = load_key(curve_secret_key, secret=True)
            self.socket.curve_serverkey, _ = load_key(curve_server_key, secret=False)
            self._monitor = self.socket.get_monitor_socket(sum(HANDSHAKE_FAILURES))
        suffix = "" if stream_id is None else stream_id
        for prefix in (wire.POSE_PREFIX, wire.META_PREFIX):
            self.socket.setsockopt(zmq.SUBSCRIBE, f"{prefix}{suffix}".encode())
        self.socket.connect(endpoint)
        self.endpoint, self.stream_id = endpoint, stream_id
        self.meta: dict | None = None
        self.metas: dict[str, dict] = {}  # the latest description of each stream
        self.lost = 0
        self._next_pub_seq: dict[str, int] = {}  # per stream

    def receive(self, timeout_s: float | None = None) -> PoseFrame | MetaFrame | None:
        """The next message, decoded; None if nothing came within ``timeout_s``. Raises
        PermissionError when the publisher turns down this client's CurveZMQ handshake."""
        if self._monitor is not None:
            if not self._wait_or_refused(timeout_s):
                return None
        elif timeout_s is not None and not self.socket.poll(int(timeout_s * 1000)):
            return None
        message = wire.decode(self.socket.recv_multipart())
        if isinstance(message, MetaFrame):
            self.meta = self.metas[message.stream_id] = message.description
        elif message.pub_seq is not None:
            expected = self._next_pub_seq.get(message.stream_id, message.pub_seq)
            # A smaller pub_seq is a restarted publisher, not a loss.
            self.lost += max(0, message.pub_seq - expected)
            self._next_pub_seq[message.stream_id] = message.pub_seq + 1
        return message

    def _wait_or_refused(self, timeout_s: float | None) -> bool:
        """Wait for a message (True) or ``timeout_s`` (False); a failed handshake raises."""
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        ready = dict(poller.poll(None if timeout_s is None else int(timeout_s * 1000)))
        if self._monitor in ready:
            event = recv_monitor_message(self._monitor)
            raise PermissionError(f"{self.endpoint}: {HANDSHAKE_FAILURES[event['event']]} (CurveZMQ): is this "
                                  "client's public key in the publisher's curve_allowed_clients folder, and "
                                  "curve_server_key the publisher's public key?")
        return self.socket in ready

    def frames(self, timeout_s: float | None = None,
               description_timeout_s: float = DESCRIPTION_TIMEOUT_S) -> Iterator[PoseFrame]:
        """Pose frames as they arrive, each only once its stream's description is in ``self.meta``
        (poses that came before it are held back, then yielded in order); ends after ``timeout_s``
        seconds of silence, or never when it is None. Raises TimeoutError when a stream's poses
        come for ``description_timeout_s`` without a description."""
        held: dict[str, list[PoseFrame]] = {}    # per stream: poses waiting for its description
        since: dict[str, float] = {}             # when the first of them came
        while True:
            wait, deadline_first = timeout_s, False
            if since:
                stream_id, first = min(since.items(), key=lambda item: item[1])
                left = first + description_timeout_s - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.endpoint}: {len(held[stream_id])} poses of stream {stream_id!r} "
                                       f"but no description (meta/{stream_id}) within {description_timeout_s:g} s; "
                                       "is it a hotstream wire v1 publisher?")
                wait, deadline_first = (left, True) if timeout_s is None or left < timeout_s else (timeout_s, False)
            message = self.receive(wait)
            if message is None:
                if deadline_first:
                    continue
                return
            if isinstance(message, MetaFrame):
                yield from held.pop(message.stream_id, [])
                since.pop(message.stream_id, None)
                continue
            # Topics match by prefix ("cam0" also matches "cam01"), so check the id itself.
            if self.stream_id not in (None, message.stream_id):
                continue
            if message.stream_id in self.metas:
                yield message
            else:
                held.setdefault(message.stream_id, []).append(message)
                since.setdefault(message.stream_id, time.monotonic())

    def close(self) -> None:
        if self._monitor is not None:
            self.socket.disable_monitor()
            self._monitor.close()
        self.socket.close()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

