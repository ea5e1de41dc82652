"""Latency report: per-stage and glass-to-publish percentiles, rates and counts, per-frame timings.

Kept per frame (columnar, so the JSON stays compact) so ``tools/latency_plot.py`` can draw the
timeline; summarised as p50/p95/p99/max for people. A live pipeline runs for hours, so only the
newest ``max_frames`` frames are kept (memory stays flat): percentiles and the timeline cover
those, while the output rate and the counts cover the whole run. With several people each
message is a row, the output rate counts frames (not messages), and ``info.people`` gives per
person id the poses published, their rate (over that person's capture times) and
glass-to-publish p50/p99.
"""
from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import numpy as np

from stream.record import FrameRecord

GLASS_TO_PUBLISH = "glass_to_publish"


def p50_p99(values_ms) -> dict[str, float]:
    """The median and the 99th percentile, rounded to microseconds."""
    p50, p99 = np.percentile(np.asarray(values_ms, np.float64), [50, 99])
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}


def rate(count: int, times_ns: list[int]) -> float:
    """Events per second for ``count`` events spread over the span of ``times_ns``."""
    span = (max(times_ns) - min(times_ns)) / 1e9 if times_ns else 0.0
    return (count - 1) / span if count > 1 and span > 0 else 0.0


class _Person:
    """One person's published poses: how many, at what rate, how late."""

    def __init__(self, latencies: deque) -> None:
        self.sent, self.first_capture_ns, self.last_capture_ns = 0, None, 0
        self.latencies = latencies

    def add(self, t_capture_ns: int, glass_to_publish_ms: float) -> None:
        self.sent += 1
        self.first_capture_ns = t_capture_ns if self.first_capture_ns is None else self.first_capture_ns
        self.last_capture_ns = t_capture_ns
        self.latencies.append(glass_to_publish_ms)

    def summary(self) -> dict:
        return {"published": self.sent, "fps": round(rate(self.sent, [self.first_capture_ns, self.last_capture_ns]), 2),
                GLASS_TO_PUBLISH + "_ms": p50_p99(self.latencies)}


class LatencyReport:
    def __init__(self, max_frames: int | None = None) -> None:
        self.max_frames = max_frames
        self.seq, self.t_capture_ns, self.t_publish_ns = self._column(), self._column(), self._column()
        self.valid, self.sent = self._column(), self._column()
        self.stages: dict[str, deque] = {}
        self.frames = self.frames_sent = 0  # messages timed; frames with a pose sent
        self.last_sent_capture_ns: int | None = None
        self.people: dict[int, _Person] = {}

    def _column(self, values=()) -> deque:
        return deque(values, maxlen=self.max_frames)

    def add(self, rec: FrameRecord, sent: bool) -> None:
        """Record a frame that reached the publisher (sent, or dropped by the socket)."""
        n = len(self.seq)
        self.frames += 1
        self.seq.append(rec.seq)
        self.t_capture_ns.append(rec.t_capture_ns)
        self.t_publish_ns.append(rec.stamps["publish"])
        self.valid.append(rec.valid)
        self.sent.append(sent)
        if sent:
            if self.last_sent_capture_ns is None or rec.t_capture_ns > self.last_sent_capture_ns:
                self.frames_sent += 1  # a frame's first message (with several people, the others follow it)
                self.last_sent_capture_ns = rec.t_capture_ns
            if rec.pose2d.person_id not in self.people:
                self.people[rec.pose2d.person_id] = _Person(self._column())
            self.people[rec.pose2d.person_id].add(rec.t_capture_ns, rec.glass_to_publish_ms())
        for name, ms in {**rec.stages_ms(), GLASS_TO_PUBLISH: rec.glass_to_publish_ms()}.items():
            if name not in self.stages:  # a stage first seen now: NaN for the frames before
                self.stages[name] = self._column([float("nan")] * n)
            self.stages[name].append(ms)
        for column in self.stages.values():  # a stage this frame skipped
            if len(column) == n:
                column.append(float("nan"))

    def build(self, counts: dict, info: dict, capture_span_ns: tuple[int, int]) -> dict:
        """The report as a JSON-ready dict; ``counts["captured"]`` frames were captured over
        ``capture_span_ns`` (first and last capture time)."""
        latency = {}
        for name, column in self.stages.items():
            values = np.asarray(column, dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size:
                p50, p95, p99 = np.percentile(values, [50, 95, 99])
                latency[name] = {"p50": round(p50, 3), "p95": round(p95, 3), "p99": round(p99, 3),
                                 "max": round(float(values.max()), 3), "n": int(values.size)}
        # Both rates are over the capture span, so output <= input and the gap is the frames not
        # published. Publish times bunch up as the start-up latency drains ("output 30.1 > input
        # 30.0"), and the span of the sent frames alone is shorter when the first or last are not
        # sent ("33.51 > 33.48"). Frames, not messages: each person's rate is in info.people.
        input_fps = rate(counts["captured"], list(capture_span_ns))
        output_fps = rate(self.frames_sent, list(capture_span_ns))
        people = {str(person_id): person.summary() for person_id, person in sorted(self.people.items())}
        return {
            "info": {**info, "frames_timed": self.frames, "frames_kept": len(self.seq), "people": people},
            "fps": {"input": round(input_fps, 2), "output": round(output_fps, 2)},
            "counts": counts,
            "latency_ms": latency,
            "per_frame": {"seq": list(self.seq), "t_capture_ns": list(self.t_capture_ns),
                          "t_publish_ns": list(self.t_publish_ns), "valid": list(self.valid), "sent": list(self.sent),
                          "stages_ms": {k: [round(v, 3) for v in col] for k, col in self.stages.items()}},
        }


REPORT_WIDTH = 96  # characters per line of the printed summary
HEADLINE_COUNTS = ("captured", "published", "unaccounted")


def format_report(report: dict) -> str:
    """A short human-readable table of a built report: latencies, rates, and the counts that are
    not zero (every count is in the JSON report)."""
    lines = [f"{'stage':<18}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}   (ms, {len(report['per_frame']['seq'])} frames)"]
    for name, s in report["latency_ms"].items():
        if name == GLASS_TO_PUBLISH:
            lines.append("-" * len(lines[0]))
        lines.append(f"{name:<18}{s['p50']:>9.2f}{s['p95']:>9.2f}{s['p99']:>9.2f}{s['max']:>9.2f}")
    fps = report["fps"]
    lines.append(f"fps: input {fps['input']:.1f}, output {fps['output']:.1f}")
    counts = report["counts"]
    lines.append("frames: " + ", ".join(f"{name} {counts[name]}" for name in HEADLINE_COUNTS))
    others = [f"{name} {value}" for name, value in counts.items() if value and name not in HEADLINE_COUNTS]
    zeros = sum(1 for name, value in counts.items() if not value and name not in HEADLINE_COUNTS)
    line = "other counts:"
    for item in others + ([f"{zeros} more at 0"] if zeros else []):
        if len(line) + len(item) + 2 > REPORT_WIDTH:
            lines.append(line.rstrip(","))
            line = "   "
        line += f" {item},"
    lines.append(line.rstrip(","))
    return "\n".join(lines)


def write_report(report: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))


def load_report(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latency report not found: {path}")
    try:
        report = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a JSON latency report written by run_stream.py ({err})") from None
    if not isinstance(report, dict) or "per_frame" not in report or "latency_ms" not in report:
        raise ValueError(f"{path} is not a latency report written by run_stream.py")
    return report


def plot_report(report: dict, path: str | Path) -> None:
    """PNG with the per-stage percentiles (left) and glass-to-publish over time per stage (right)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_frame = report["per_frame"]
    stage_names = [n for n in per_frame["stages_ms"] if n != GLASS_TO_PUBLISH]
    fig, (bars, timeline) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [1, 2]})

    names = [n for n in report["latency_ms"]]
    y = np.arange(len(names))
    for offset, (key, colour) in zip((-0.25, 0, 0.25), (("p50", "tab:blue"), ("p95", "tab:orange"), ("p99", "tab:red"))):
        bars.barh(y + offset, [report["latency_ms"][n][key] for n in names], height=0.25, color=colour, label=key)
    bars.set_yticks(y, names)
    bars.invert_yaxis()
    bars.set_xlabel("ms")
    bars.set_title("per-stage latency")
    bars.legend()

    if per_frame["t_capture_ns"]:
        t0 = min(per_frame["t_capture_ns"])
        t = (np.asarray(per_frame["t_capture_ns"]) - t0) / 1e9
        order = np.argsort(t)
        stack = np.nan_to_num(np.array([per_frame["stages_ms"][n] for n in stage_names], dtype=float))[:, order]
        timeline.stackplot(t[order], stack, labels=stage_names, alpha=0.8)
        timeline.plot(t[order], np.asarray(per_frame["stages_ms"][GLASS_TO_PUBLISH], dtype=float)[order],
                      color="black", lw=0.8, label=GLASS_TO_PUBLISH)
        dropped = ~np.asarray(per_frame["sent"], dtype=bool)[order]
        if dropped.any():
            timeline.plot(t[order][dropped], np.zeros(dropped.sum()), "rx", label="dropped by socket")
    timeline.set_xlabel("capture time (s)")
    timeline.set_ylabel("ms")
    fps = report["fps"]
    timeline.set_title(f"glass-to-publish per frame (input {fps['input']:.1f} fps, output {fps['output']:.1f} fps)")
    timeline.legend(loc="upper left", fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
