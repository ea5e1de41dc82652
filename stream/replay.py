"""Publish a recording again on ZeroMQ, with the gaps between messages it was received with.

Consumers cannot tell a replay from the live pipeline: same topics, same headers, same arrays,
same spacing (divided by ``speed``), or back to back with ``as_fast_as_possible``.

Unlike the live :class:`stream.publisher.Publisher`, which must never wait for a slow consumer,
a replay must never lose a message: its XPUB socket has no send high-water mark and
``XPUB_NODROP``, so messages queue in memory (a recording's worth at most) instead of being
dropped. It sends only the recorded messages (no description of its own), so it waits for the
first subscriber before starting rather than relying on the periodic description for late joiners.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import zmq

from stream.publisher import endpoint_problem
from stream.recorder import Recording

# A subscriber's subscriptions (pose and meta prefixes) arrive one after the other; after the
# first, wait this long for the rest so its first messages are not filtered out.
SUBSCRIPTION_SETTLE_S = 0.1
# Sleep until this close to a message's time, then spin: time.sleep alone overshoots by ~0.1-1 ms.
# The spin yields (sleep(0)) so other threads of the process, a consumer in a test say, still run.
SPIN_S = 0.002


@dataclass
class ReplayStats:
    sent: int
    wall_s: float
    late_ms_p50: float   # how late messages left, against the recorded schedule
    late_ms_max: float


class Replayer:
    """Binds ``endpoint`` at once (so ``self.endpoint`` holds the real port of ``tcp://host:*``);
    :meth:`run` publishes the recording."""

    def __init__(self, recording: Recording, endpoint: str, context: zmq.Context | None = None) -> None:
        if not len(recording):
            raise ValueError("the recording holds no messages")
        if (problem := endpoint_problem(endpoint, bind=True)) is not None:
            raise ValueError(f"replay endpoint {problem}")
        self.recording = recording
        self.socket = (context or zmq.Context.instance()).socket(zmq.XPUB)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.XPUB_NODROP, 1)
        self.socket.setsockopt(zmq.LINGER, 2000)  # let queued messages out on close
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as err:
            self.socket.close()
            raise ValueError(f"cannot bind replay endpoint {endpoint!r}: {err}") from None
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def wait_for_subscriber(self, timeout_s: float) -> bool:
        """True once someone has subscribed (and their other subscriptions have had time to land)."""
        if not self.socket.poll(int(timeout_s * 1000)):
            return False
        deadline = time.monotonic() + SUBSCRIPTION_SETTLE_S
        while (left := deadline - time.monotonic()) > 0:
            if self.socket.poll(int(left * 1000) + 1):
                self.socket.recv()
        return True

    def run(self, speed: float = 1.0, as_fast_as_possible: bool = False, restamp: bool = False) -> ReplayStats:
        """Send every message at its recorded time offset divided by ``speed``.

        ``restamp`` shifts each message's ``t_capture_ns`` and ``t_publish_ns`` by (now - the time
        it was originally received), so consumers measure the recorded latency instead of the age
        of the recording.
        """
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        rec = self.recording
        offsets_s = (rec.t_receive_ns - rec.t_receive_ns[0]) / 1e9 / speed
        late_ms = np.zeros(len(rec))
        start = time.perf_counter()
        for k in range(len(rec)):
            if not as_fast_as_possible:
                due = start + offsets_s[k]
                if (wait := due - time.perf_counter() - SPIN_S) > 0:
                    time.sleep(wait)
                while time.perf_counter() < due:
                    time.sleep(0)
                late_ms[k] = (time.perf_counter() - due) * 1e3
            header = _restamped(rec.headers[k], time.time_ns() - int(rec.t_receive_ns[k])) if restamp else None
            self.socket.send_multipart(rec.message(k, header))
        return ReplayStats(len(rec), time.perf_counter() - start, float(np.median(late_ms)), float(late_ms.max()))

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> "Replayer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _restamped(header: dict, shift_ns: int) -> dict:
    return {**header, **{key: header[key] + shift_ns for key in ("t_capture_ns", "t_publish_ns") if key in header}}
