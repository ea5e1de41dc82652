"""The output seam: what a sink is, and how each one runs without holding up the others.

A sink has ``send(out)`` (one published pose, :class:`Output`), ``close()`` (finish: flush a
file, close a socket) and, if the stream description matters to it, ``describe(meta)`` (at the
start and whenever it changes). The ZeroMQ publisher is the primary sink and runs inside the publish stage:
it never blocks (its bounded queue is the socket's send buffer, ``publisher.send_hwm``) and its
per-frame outcome is the report's ``published`` / ``dropped_by_socket``. Every other sink runs in a
thread of its own behind a bounded queue (:class:`SinkRunner`): a slow one drops its oldest
frames, a failing one counts its errors and, after ``max_errors`` in a row, is closed and marked
failed; neither stalls capture, the ZeroMQ stream or the other sinks. The report lists each
sink's sent, dropped and error counts and what a frame cost it. :mod:`stream.sinks.process` runs
a runner like this one in a child process, off the pipeline's GIL.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from stream import wire
from stream.wire import MetaFrame, PoseFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Output:
    """One published pose: the wire v1 message as ZeroMQ sends it, decoded on first use (a sink in
    a child process needs only the bytes)."""

    parts: list[bytes]

    @cached_property
    def pose(self) -> PoseFrame:
        return wire.decode(self.parts)


class Sink(Protocol):
    """``describe(meta: MetaFrame)`` is optional: a sink without it is not told the description."""

    name: str

    def send(self, out: Output) -> None: ...

    def close(self) -> None: ...


class SinkRunner:
    """One sink in its own thread behind a bounded queue (see the module docstring)."""

    def __init__(self, sink: Sink, queue_size: int = 64, max_errors: int = 10) -> None:
        self.sink, self.queue_size, self.max_errors = sink, queue_size, max_errors
        self.items: deque = deque()
        self.cond = threading.Condition()
        self.sent = self.dropped = self.errors = 0
        self.failed = False
        self.last_error = ""
        self._errors_in_a_row = 0
        self.cost_ms: deque = deque(maxlen=10000)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self.sink.name

    def describe(self, meta: MetaFrame) -> None:
        if hasattr(self.sink, "describe"):
            self._put(("describe", meta))

    def send(self, out: Output) -> None:
        self._put(("send", out))

    def _put(self, item: tuple) -> None:
        with self.cond:
            if self.failed or self._closing:
                self.dropped += item[0] == "send"
                return
            if len(self.items) >= self.queue_size:
                dropped = next((i for i, (kind, _) in enumerate(self.items) if kind == "send"), 0)
                self.dropped += self.items[dropped][0] == "send"
                del self.items[dropped]
            self.items.append(item)
            self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.items or self._closing)
                if not self.items:
                    break
                kind, payload = self.items.popleft()
            start = time.perf_counter()
            try:
                getattr(self.sink, kind)(payload)
            except Exception as err:  # a sink's fault is counted and reported, never raised into the pipeline
                self._failure(err)
                continue
            if kind == "send":
                self.sent += 1
                self.cost_ms.append((time.perf_counter() - start) * 1e3)
                self._errors_in_a_row = 0

    def _failure(self, err: Exception) -> None:
        self.errors += 1
        self._errors_in_a_row += 1
        self.last_error = " ".join(f"{type(err).__name__}: {err}".split())
        if self.errors == 1:
            log.warning("sink %s: %s (counted; the other outputs go on)", self.name, self.last_error)
        if self._errors_in_a_row >= self.max_errors:
            log.error("sink %s failed %d times in a row; closing it (last: %s)", self.name,
                      self._errors_in_a_row, self.last_error)
            with self.cond:
                self.failed = True
                self.dropped += sum(kind == "send" for kind, _ in self.items)
                self.items.clear()
            self._close_sink()

    def _close_sink(self) -> None:
        try:
            self.sink.close()
        except Exception as err:
            self.errors += 1
            self.last_error = " ".join(f"close: {type(err).__name__}: {err}".split())
            log.warning("sink %s: %s", self.name, self.last_error)

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish the queued frames (within ``timeout_s``), then close the sink."""
        with self.cond:
            self._closing = True
            self.cond.notify()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            with self.cond:
                self.dropped += sum(kind == "send" for kind, _ in self.items)
                self.items.clear()
            log.warning("sink %s did not finish within %.0f s; its queued frames are counted as dropped",
                        self.name, timeout_s)
            return
        if not self.failed:
            self._close_sink()

    def counts(self) -> dict:
        cost = np.array(self.cost_ms) if self.cost_ms else np.zeros(1)
        own = self.sink.counts() if hasattr(self.sink, "counts") else {}  # what only this sink knows
        return {"sent": self.sent, "dropped": self.dropped, "errors": self.errors, "failed": self.failed,
                "last_error": self.last_error, "cost_ms_p50": round(float(np.percentile(cost, 50)), 3),
                "cost_ms_p99": round(float(np.percentile(cost, 99)), 3), **own}
