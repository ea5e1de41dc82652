"""A sink in a child process: the same seam as :class:`~stream.sinks.base.SinkRunner`, but the
sink's Python work (solving bones, building OSC or CDR messages) runs under another interpreter's
GIL, so it never holds up the stages of the pipeline.

The pipeline hands over the wire v1 bytes it already has; the child decodes them, builds the sink
from its settings (a fault there is raised in the parent, in one line, before the run starts),
and reports its counts when it closes. The queue between the two is bounded: a full one drops the
frame, counted. Children are spawned, never forked: the parent runs MediaPipe's and ONNX
Runtime's threads, which a fork would copy half-way.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import time

import numpy as np

from stream import wire
from stream.sinks.base import Output, SinkRunner
from stream.wire import MetaFrame

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0  # importing a sink's library and opening it; a spawned child starts from scratch


def _serve(settings, stream_id: str, inbox, outbox, max_errors: int) -> None:
    """The child: build the sink, then run every item through a :class:`SinkRunner` of its own."""
    from stream.sinks import create_sink

    try:
        sink = create_sink(settings, stream_id)
    except Exception as err:
        outbox.send(("error", " ".join(str(err).split())))
        return
    outbox.send(("ready", getattr(sink, "port", None)))
    runner = SinkRunner(sink, queue_size=1 << 30, max_errors=max_errors)  # the parent's queue bounds it
    while (item := inbox.get()) is not None:
        kind, parts = item
        if kind == "describe":
            runner.describe(wire.decode(parts))
        else:
            runner.send(Output(parts))
    runner.close()
    outbox.send(("counts", runner.counts()))


class ProcessSinkRunner:
    """A sink's settings, run in a spawned child process behind a bounded queue."""

    def __init__(self, settings, stream_id: str, queue_size: int = 64, max_errors: int = 10) -> None:
        self.name = settings.type
        context = mp.get_context("spawn")
        self.inbox = context.Queue(maxsize=queue_size)
        self.outbox, child_end = context.Pipe(duplex=False)
        self.process = context.Process(target=_serve, args=(settings, stream_id, self.inbox, child_end, max_errors),
                                       name=f"sink-{self.name}", daemon=True)
        self.process.start()
        if not self.outbox.poll(START_TIMEOUT_S):
            self.process.kill()
            raise RuntimeError(f"the {self.name} sink did not start within {START_TIMEOUT_S:.0f} s")
        status, detail = self.outbox.recv()
        if status == "error":
            self.process.join(5)
            raise ValueError(detail)
        self.port = detail
        self.dropped = 0
        self.final: dict | None = None

    def describe(self, meta: MetaFrame) -> None:
        self._put(("describe", wire.encode_meta(meta.stream_id, {k: v for k, v in meta.description.items()
                                                                  if k not in ("v", "stream_id")})), frame=False)

    def send(self, out: Output) -> None:
        self._put(("send", out.parts), frame=True)

    def _put(self, item: tuple, frame: bool) -> None:
        try:
            self.inbox.put_nowait(item)
        except queue.Full:
            self.dropped += frame

    def close(self, timeout_s: float = 10.0) -> None:
        """Let the child finish its queue and close the sink; then collect its counts."""
        deadline = time.monotonic() + timeout_s
        try:
            self.inbox.put(None, timeout=timeout_s)
            if self.outbox.poll(max(0.0, deadline - time.monotonic())):
                self.final = self.outbox.recv()[1]
        except (queue.Full, EOFError, OSError) as err:  # counts() then says the child did not report
            log.warning("sink %s: its process did not finish cleanly (%s)", self.name, err)
        self.process.join(max(0.0, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.kill()
        self.inbox.close()

    def counts(self) -> dict:
        final = self.final or {"sent": 0, "dropped": 0, "errors": 0, "failed": self.final is None,
                               "last_error": "" if self.final else "the sink's process did not report",
                               "cost_ms_p50": float(np.nan), "cost_ms_p99": float(np.nan)}
        return {**final, "dropped": final["dropped"] + self.dropped}
