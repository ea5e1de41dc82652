"""The live pipeline: four stages in threads joined by small bounded queues.

    source --q--> 2D (MediaPipe, tracker) --q--> lifter (rings, engine, root, filter) --q--> publisher

The parts come ready-made from :mod:`stream.build`; the stages here never read ``Settings``.

Why threads, not processes: the heavy work (MediaPipe's graph, ONNX Runtime / torch kernels,
OpenCV decoding) runs in C++ with the GIL released, so threads overlap it as processes would.
Measured on the 2-core dev box (2D stage and lifter, 90 frames, 3 interleaved trials each, under
a load average of 8-9 from other jobs): 87 ms/frame median with threads, 76 with processes,
trial ranges 72-92 and 68-97 - no difference beyond noise. Threads then win on simplicity:
frames, timestamps and counters are shared without pickling, there is no second interpreter to
spawn and load models into, and Ctrl-C / errors stop every stage from one place.

For a live source (camera, paced video) a full queue drops its *oldest* item, so latency cannot
build up; every drop is counted. The image queue before the 2D stage holds one frame, so
MediaPipe always works on the freshest one. The lifter takes its whole backlog of poses at once
and pushes every pose into the ring (windows stay evenly spaced in time), but lifts only the
newest ``lifter.max_batch`` windows and skips older ones (but never the last ``lookahead`` frames
before a gap, which no newer window covers). With ``as_fast_as_possible`` the queues
block instead and every frame is processed.

Every frame is stamped at each stage boundary (``FrameRecord``); the report built at the end
(or on Ctrl-C) by :mod:`stream.outcome` has per-stage and glass-to-publish percentiles, rates,
counts and per-frame data.

Several people: the 2D stage finds everyone and :mod:`stream.tracking` numbers them; the lifter
keeps a ring per person and lifts all their windows in one engine call. Each person's pose is a
message of its own, ``person`` being their id, and the meta message lists the people in view
(``people``), sent at once when that changes.

The source's state (``ok``, ``reconnecting``, ``stalled``, ``ended``) is published in the meta
message as ``source_state``, at once when it changes. SIGINT and SIGTERM stop the source and let
the frames in flight drain through every stage before the sockets close and the report is
built; a second signal exits at once.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any, Callable

from stream import wire
from stream.build import Components, RunOptions, build_components, run_options
from stream.outcome import build_report
from stream.pose2d import track_people
from stream.record import FrameRecord
from stream.report import LatencyReport
from stream.sinks import Output
from stream.sources import ENDED, Source

if TYPE_CHECKING:
    from engines.runtime import Engine
    from stream.config import Settings

log = logging.getLogger(__name__)

END = object()  # end-of-stream marker, passed down the queues
DRAIN_TIMEOUT_S = 10.0  # after a stop, how long stages may take to finish their frames in flight


class StageQueue:
    """Bounded FIFO between two stages: drops its oldest item when full (live) or blocks (offline)."""

    def __init__(self, maxsize: int, drop_oldest: bool, stop: threading.Event) -> None:
        self.maxsize, self.drop_oldest, self.stop = maxsize, drop_oldest, stop
        self.items: deque = deque()
        self.cond = threading.Condition()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: Any) -> None:
        with self.cond:
            if item is not END and len(self.items) >= self.maxsize:
                if self.drop_oldest:
                    self.items.popleft()
                    self.dropped += 1
                else:
                    while len(self.items) >= self.maxsize and not self.stop.is_set():
                        self.cond.wait(0.1)
            self.items.append(item)
            self.cond.notify_all()

    def get(self, timeout_s: float) -> Any | None:
        """The next item, or None if none came within ``timeout_s``."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.items, timeout_s):
                return None
            item = self.items.popleft()
            self.cond.notify_all()
            return item

    def get_all(self, timeout_s: float) -> list:
        """Everything waiting (at least one item), or [] if nothing came within ``timeout_s``."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.items, timeout_s):
                return []
            items = list(self.items)
            self.items.clear()
            self.cond.notify_all()
            return items


class Pipeline:
    """Runs ready parts (see :mod:`stream.build`) as four stages in threads, and reports the run."""

    def __init__(self, parts: Components, options: RunOptions) -> None:
        self.stop, self.source, self.pose2d, self.tracker = parts.stop, parts.source, parts.pose2d, parts.tracker
        self.engine, self.lifter, self.publisher, self.sinks = parts.engine, parts.lifter, parts.publisher, parts.sinks
        self.options = options
        drop = options.drop_oldest
        self.queues = {"wait_2d": StageQueue(options.frame_queue, drop, self.stop),
                       "wait_lift": StageQueue(options.pose_queue, drop, self.stop),
                       "wait_publish": StageQueue(options.pose_queue, drop, self.stop)}
        self.report = LatencyReport(options.report_frames)
        self.errors: list[BaseException] = []
        self.captured = self.non_finite_2d = 0
        # people found -> the 2D stage's times (ms)
        self.pose2d_ms_by_people: defaultdict[int, deque] = defaultdict(lambda: deque(maxlen=options.report_frames))
        self.capture_span_ns = [0, 0]
        self.source_state = self.publisher.description["source_state"]  # the state consumers were told

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None,
                      source: Source | None = None) -> Pipeline:
        """The pipeline ``settings`` describe; ``engine`` and ``source`` (tests) replace the ones they name."""
        parts = build_components(settings, engine, source)
        return cls(parts, run_options(settings, parts.source))

    # --- stages -----------------------------------------------------------------------------
    def _read(self) -> None:
        out, limit = self.queues["wait_2d"], self.options.max_frames
        for frame in self.source:
            if self.stop.is_set():
                break
            if not self.captured:
                self.capture_span_ns[0] = frame.t_capture_ns
            self.captured += 1
            self.capture_span_ns[1] = frame.t_capture_ns
            height, width = frame.image.shape[:2]
            rec = FrameRecord(frame.seq, frame.source_id, frame.t_capture_ns, (width, height),
                              stamps={"capture": frame.t_capture_ns, "read": frame.t_read_ns}, image=frame.image,
                              epoch=frame.epoch, t_s=frame.seq / self.source.fps if self.options.media_clock
                              else frame.t_capture_ns / 1e9)
            out.put(rec)
            if limit is not None and self.captured >= limit:
                break

    def _detect(self) -> None:
        inbox, out = self.queues["wait_2d"], self.queues["wait_lift"]
        while (rec := self._next(inbox)) is not END:
            rec.stamp("wait_2d")
            people = self.pose2d.estimate(rec.image, round(rec.t_s * 1000))
            finite = [pose for pose in people if pose.is_finite()]
            self.non_finite_2d += len(people) - len(finite)  # never lifted: as if not seen
            rec.people = track_people(self.tracker, finite, rec.t_s)
            rec.image = None
            rec.stamp("pose2d")
            self.pose2d_ms_by_people[len(people)].append((rec.stamps["pose2d"] - rec.stamps["wait_2d"]) / 1e6)
            out.put(rec)

    def _lift(self) -> None:
        inbox, out = self.queues["wait_lift"], self.queues["wait_publish"]
        ended = False
        while not ended:
            records = inbox.get_all(0.1)  # the whole backlog: the lifter batches it
            ended = bool(records) and records[-1] is END
            records = records[:-1] if ended else records
            for rec in records:
                rec.stamp("wait_lift")
            for ready in self.lifter.process(records):
                out.put(ready)
        for ready in self.lifter.finish():
            out.put(ready)

    def _publish(self) -> None:
        inbox, pub = self.queues["wait_publish"], self.publisher
        while True:
            state = self.source.state()
            self._announce_state(self.source_state if state == ENDED else state)  # ended: after the last pose
            rec = inbox.get(timeout_s=min(pub.service(), 0.1))
            if rec is END:
                break
            if rec is None:
                continue
            rec.stamp("wait_publish")
            parts = wire.encode_pose(rec, pub.stream_id, self.engine.lookahead, self.source.fps,
                                     time.time_ns(), pub.next_pub_seq)
            sent = pub.send(parts)
            rec.stamp("publish")
            self.report.add(rec, sent)
            self._announce_people(rec)
            if self.sinks:
                out = Output(parts)
                for sink in self.sinks:
                    sink.send(out)
        self._announce_state(ENDED)
        self._describe()  # a last description, so even a very short run leaves one

    def _describe(self) -> None:
        """The stream description to ZeroMQ now, and to every other sink."""
        meta = wire.decode(self.publisher.send_meta())
        for sink in self.sinks:
            sink.describe(meta)

    def _announce_people(self, rec) -> None:
        """Tell consumers at once when the people in view change (``people`` in the meta message)."""
        people = sorted(pose.person_id for pose in rec.people)
        if people != self.publisher.description.get("people"):
            self.publisher.description["people"] = people
            self._describe()

    def _announce_state(self, state: str) -> None:
        """Tell consumers at once when the source's state changes (also logged)."""
        if state != self.source_state:
            log.info("source %s: %s -> %s", self.source.source_id, self.source_state, state)
            self.source_state = self.publisher.description["source_state"] = state
            self._describe()

    @staticmethod
    def _next(inbox: StageQueue) -> Any:
        """Next item of ``inbox`` (END when the upstream stage has finished: frames in flight drain)."""
        while (item := inbox.get(0.1)) is None:
            pass
        return item

    def _run_stage(self, body: Callable[[], None], downstream: StageQueue | None) -> None:
        try:
            body()
        except BaseException as err:  # surfaced by run() after every thread has ended
            self.errors.append(err)
            self.stop.set()
        finally:
            if downstream is not None:
                downstream.put(END)

    # --- driver -----------------------------------------------------------------------------
    def run(self) -> dict:
        """Run until the source ends, Ctrl-C, or ``self.stop`` is set; returns the built report.

        Raises the first error any stage raised (after all stages have stopped).
        """
        q = self.queues
        stages = [(self._read, q["wait_2d"]), (self._detect, q["wait_lift"]),
                  (self._lift, q["wait_publish"]), (self._publish, None)]
        threads = [threading.Thread(target=self._run_stage, args=stage, name=stage[0].__name__.strip("_"), daemon=True)
                   for stage in stages]
        t_start = time.time_ns()
        restore = self._handle_signals()
        try:
            self._wait_for_subscriber(self.options.wait_for_subscriber_s)
            self._describe()
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive() and not self.stop.is_set():
                    thread.join(0.2)
            deadline = time.monotonic() + DRAIN_TIMEOUT_S  # stopping: let the frames in flight drain
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.warning("stage %s did not finish within %.0f s; reporting without it", thread.name,
                                DRAIN_TIMEOUT_S)
        finally:
            restore()
            self.close()
        if self.errors:
            raise self.errors[0]
        return build_report(self, time.time_ns() - t_start)

    def _wait_for_subscriber(self, timeout_s: float) -> None:
        """Wait for a first subscriber, in short steps so that a signal can end the wait."""
        deadline = time.monotonic() + timeout_s
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.publisher.wait_for_subscriber(min(left, 0.2)):
                return
        if timeout_s and not self.stop.is_set():
            log.warning("no subscriber within %.1f s; starting anyway", timeout_s)

    def _handle_signals(self) -> Callable[[], None]:
        """SIGINT/SIGTERM: the first stops the source and drains; a second exits at once.

        Returns a function that restores the previous handlers. Signals can only be handled
        in the main thread; elsewhere (a pipeline run from a test thread) nothing is changed.
        """
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_signal(signum: int, _frame) -> None:
            if self.stop.is_set():
                print(f"{signal.Signals(signum).name} again: exiting now", file=sys.stderr, flush=True)
                os._exit(128 + signum)
            log.info("%s: stopping; finishing the frames in flight (again to exit at once)",
                     signal.Signals(signum).name)
            self.stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return restore

    def close(self) -> None:
        for part in (*self.sinks, self.source, self.pose2d, self.publisher):  # sinks first: they finish their files
            part.close()
