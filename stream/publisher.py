"""ZeroMQ publisher that never lets a slow or dead subscriber stall the pipeline.

An XPUB socket (a PUB that also sees subscriptions) with a send high-water mark and
``XPUB_NODROP``: when a subscriber's queue is full, a non-blocking send raises ``zmq.Again``
instead of libzmq dropping the message silently, so every lost message is counted in
``dropped``. The price is that a subscriber that stops reading makes the sends fail for all
subscribers until its queue drains or it disconnects; a subscriber that exits is forgotten at
once. Seeing subscriptions also lets the publisher send the stream description to each new
subscriber straight away, and lets a recorder make the pipeline wait for it before starting.
"""
from __future__ import annotations

import time

import zmq

from stream import wire


class Publisher:
    def __init__(self, endpoint: str, stream_id: str, send_hwm: int = 30, meta_interval_s: float = 1.0,
                 context: zmq.Context | None = None) -> None:
        self.stream_id, self.meta_interval_s = stream_id, meta_interval_s
        self.socket = (context or zmq.Context.instance()).socket(zmq.XPUB)
        self.socket.setsockopt(zmq.SNDHWM, send_hwm)
        self.socket.setsockopt(zmq.XPUB_NODROP, 1)
        self.socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # hear every subscription, not just the first per topic
        self.socket.setsockopt(zmq.LINGER, 0)
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as err:
            self.socket.close()
            raise ValueError(f"cannot bind publisher.endpoint {endpoint!r}: {err}") from None
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.description: dict = {}
        self.sent = self.dropped = self.meta_sent = self.meta_dropped = self.subscriptions = 0
        self._next_meta_ns = 0

    def _send(self, parts: list[bytes]) -> bool:
        try:
            self.socket.send_multipart(parts, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def send(self, parts: list[bytes]) -> bool:
        """Send a pose message without blocking; False (and counted) when it had to be dropped."""
        ok = self._send(parts)
        self.sent += ok
        self.dropped += not ok
        return ok

    def send_meta(self) -> None:
        ok = self._send(wire.encode_meta(self.stream_id, {**self.description, "t_publish_ns": time.time_ns()}))
        self.meta_sent += ok
        self.meta_dropped += not ok
        self._next_meta_ns = time.monotonic_ns() + int(self.meta_interval_s * 1e9)

    def service(self) -> float:
        """Answer new subscriptions and send the periodic description.

        Returns the seconds until the next description is due, for the caller's wait.
        """
        while True:
            try:
                event = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if event[:1] == b"\x01":
                self.subscriptions += 1
                self._next_meta_ns = 0
        if time.monotonic_ns() >= self._next_meta_ns:
            self.send_meta()
        return max(0.0, (self._next_meta_ns - time.monotonic_ns()) / 1e9)

    def wait_for_subscriber(self, timeout_s: float) -> bool:
        """Block until someone subscribes (True) or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self.subscriptions == 0 and (left := deadline - time.monotonic()) > 0:
            if self.socket.poll(int(left * 1000) + 1, zmq.POLLIN):
                self.service()
        return self.subscriptions > 0

    def close(self) -> None:
        self.socket.close()
