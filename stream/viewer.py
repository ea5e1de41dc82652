"""Live 3D view of hotstream poses: one panel per stream, side by side, with rate and latency;
the people of a stream stand side by side in its panel.

The viewer is an ordinary consumer (``stream.client.Subscriber``). It draws on a fixed clock
(``fps`` ticks per second) rather than per message, so several streams share one canvas and a
saved video plays at wall-clock speed: when drawing falls behind, the last canvas is repeated.
Latency is receive time minus the frame's capture time (``t_capture_ns``): exact on one host.
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from stream.client import MetaFrame, PoseFrame, Subscriber
from stream.sources import ENDED
from stream.render import View3D, draw_people_3d, put_lines, render_3d

STALE_S = 2.0     # a stream silent for this long is shown greyed out
PERSON_GONE_S = 0.5  # a person of a stream silent this long while others are heard is no longer drawn
RATE_WINDOW_S = 1.0
WINDOW_NAME = "hotstream"


@dataclass
class StreamState:
    """What the viewer knows about one stream."""

    latest: PoseFrame
    people: dict = field(default_factory=dict)     # person id -> (their latest frame, receive ns)
    received: int = 0
    skipped: int = 0                 # gaps in ``seq``: frames the pipeline or the network dropped
    last_receive_ns: int = 0
    recent: deque = field(default_factory=deque)   # (receive ns, latency ms) over RATE_WINDOW_S

    def add(self, frame: PoseFrame, t_receive_ns: int) -> None:
        if self.received and frame.seq > self.latest.seq + 1:
            self.skipped += frame.seq - self.latest.seq - 1
        self.latest, self.last_receive_ns = frame, t_receive_ns
        self.people[frame.header.get("person", 0)] = (frame, t_receive_ns)
        self.people = {person: seen for person, seen in self.people.items()  # the gone are forgotten
                       if t_receive_ns - seen[1] <= PERSON_GONE_S * 1e9}
        self.received += 1
        self.recent.append((t_receive_ns, (t_receive_ns - frame.t_capture_ns) / 1e6))
        while self.recent and t_receive_ns - self.recent[0][0] > RATE_WINDOW_S * 1e9:
            self.recent.popleft()

    def rate_hz(self) -> float:
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / ((self.recent[-1][0] - self.recent[0][0]) / 1e9)

    def latency_ms(self) -> float:
        return float(np.median([latency for _, latency in self.recent]))

    def in_view(self) -> list[PoseFrame]:
        """The latest frame of each person heard from within PERSON_GONE_S of the newest message."""
        return [frame for _, (frame, _) in sorted(self.people.items())]


class LiveView:
    """Keeps the latest pose of every stream and draws them side by side on a ``size`` canvas."""

    def __init__(self, size: tuple[int, int] = (720, 400), azimuth: float = 35.0, elevation: float = 15.0) -> None:
        self.size, self.azimuth, self.elevation = size, azimuth, elevation
        self.streams: dict[str, StreamState] = {}

    def update(self, frame: PoseFrame, t_receive_ns: int) -> None:
        state = self.streams.setdefault(frame.stream_id, StreamState(frame))
        state.add(frame, t_receive_ns)

    def render(self, t_now_ns: int) -> np.ndarray:
        width, height = self.size
        if not self.streams:
            return put_lines(render_3d(None, self._view(width)), ["waiting for poses..."])
        n = len(self.streams)
        edges = np.linspace(0, width, n + 1).round().astype(int)
        panels = [self._panel(sid, state, t_now_ns, self._view(int(b - a)))
                  for (sid, state), a, b in zip(sorted(self.streams.items()), edges, edges[1:])]
        canvas = np.hstack(panels)
        for x in edges[1:-1]:
            cv2.line(canvas, (int(x), 0), (int(x), height), (90, 90, 90), 1)
        return canvas

    def _view(self, width: int) -> View3D:
        return View3D(size=(width, self.size[1]), azimuth=self.azimuth, elevation=self.elevation)

    @staticmethod
    def _panel(stream_id: str, state: StreamState, t_now_ns: int, view: View3D) -> np.ndarray:
        frame, people = state.latest, state.in_view()
        silent_s = (t_now_ns - state.last_receive_ns) / 1e9
        stale = silent_s > STALE_S
        panel = draw_people_3d(view.blank(), [p.pose3d for p in people], view, [stale or not p.valid for p in people])
        who = ", ".join(str(p.header.get("person", "?")) for p in people)
        lines = [f"{stream_id}  {'people' if len(people) > 1 else 'person'} {who}  seq {frame.seq}",
                 f"{state.rate_hz():5.1f} Hz  latency {state.latency_ms():6.1f} ms",
                 f"received {state.received}  skipped {state.skipped}"]
        if stale:
            lines.append(f"no data for {silent_s:.0f} s")
        elif not frame.valid:
            lines.append("held (no person seen)")
        return put_lines(panel, lines)


@dataclass
class ViewerStats:
    received: dict[str, int]
    skipped: dict[str, int]
    rejected: int
    video_frames: int
    render_ms_p50: float


def has_display() -> bool:
    return sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_viewer(endpoint: str, stream_id: str | None = None, save: str | Path | None = None,
               duration_s: float | None = None, idle_timeout_s: float | None = None, fps: float = 30.0,
               size: tuple[int, int] = (720, 400)) -> ViewerStats:
    """Show the streams of ``endpoint`` in a window, or with ``save`` write them to an mp4 (no
    display needed). Stops when every stream seen has ended (its description's ``source_state``),
    after ``duration_s``, after ``idle_timeout_s`` without a pose, on Ctrl-C, or (window) on
    q / Esc / closing it."""
    if save is None and not has_display():
        raise RuntimeError("no display to show the viewer on; pass --save out.mp4 to write a video instead")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    live = LiveView(size)
    writer = None
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(save), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not writer.isOpened():
            raise ValueError(f"cannot write video {save!r} (OpenCV mp4v writer did not open)")
    render_ms, written, rejected = [], 0, 0
    states: dict[str, str | None] = {}  # source_state of each stream seen
    start = last_pose = time.monotonic()
    next_tick = start
    try:
        with Subscriber(endpoint, stream_id) as sub:
            while True:
                now = time.monotonic()
                if duration_s is not None and now - start >= duration_s:
                    break
                if idle_timeout_s is not None and now - last_pose >= idle_timeout_s:
                    break
                try:
                    message = sub.receive(timeout_s=max(0.0, next_tick - now))
                except ValueError:  # not a wire v1 message: counted, not fatal
                    rejected += 1
                    continue
                if isinstance(message, PoseFrame) and stream_id in (None, message.stream_id):
                    live.update(message, time.time_ns())
                    last_pose = time.monotonic()
                elif isinstance(message, MetaFrame) and stream_id in (None, message.stream_id):
                    states[message.stream_id] = message.description.get("source_state")
                    if all(state == ENDED for state in states.values()):
                        break  # the pipeline sends this after its last pose
                if time.monotonic() < next_tick:
                    continue
                t0 = time.perf_counter()
                canvas = live.render(time.time_ns())
                render_ms.append((time.perf_counter() - t0) * 1e3)
                if writer is not None:
                    due = int((time.monotonic() - start) * fps) + 1  # keep video time = wall time
                    while written < due:
                        writer.write(canvas)
                        written += 1
                else:
                    cv2.imshow(WINDOW_NAME, canvas)
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27) or cv2.getWindowProperty(WINDOW_NAME, cv2.WND_PROP_VISIBLE) < 1:
                        break
                next_tick += 1 / fps
                if next_tick < time.monotonic():  # behind: skip the missed ticks (the video repeats)
                    next_tick = time.monotonic() + 1 / fps
    except KeyboardInterrupt:
        pass
    finally:
        if writer is not None:
            writer.release()
        else:
            cv2.destroyAllWindows()
    return ViewerStats({sid: s.received for sid, s in live.streams.items()},
                       {sid: s.skipped for sid, s in live.streams.items()},
                       rejected, written, float(np.median(render_ms)) if render_ms else float("nan"))
