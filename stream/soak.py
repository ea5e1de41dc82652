"""Soak test: the live pipeline on a looped, paced clip for minutes or hours while subscribers
join and leave, sampled once a second.

It checks what a long run must keep true: resident memory stays flat after warm-up, no queue
grows past its bound, every frame captured ends in a counted outcome (``unaccounted`` is 0),
and every subscriber sees ``seq`` increase monotonically. The summary (JSON) has the figures,
the samples and the verdict of each check; :func:`plot_soak` draws RSS, fps and queue lengths.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import zmq
from tqdm import tqdm

from stream.client import PoseFrame, Subscriber
from stream.pipeline import Pipeline

MAX_RSS_GROWTH = 0.05


@dataclass
class Watcher:
    """One subscriber's view: what it received, and whether ``seq`` only ever went up."""

    sub: Subscriber
    joined_s: float
    leaves_s: float | None  # None: stays for the whole run
    received: int = 0
    last_seq: int = -1
    seq_violations: int = 0

    def take(self, frame: PoseFrame) -> None:
        self.received += 1
        self.seq_violations += frame.seq <= self.last_seq
        self.last_seq = frame.seq


@dataclass
class Crowd:
    """Subscribers that come and go, all read by one thread through a poller."""

    endpoint: str
    steady: int
    churn_every_s: float
    rng: random.Random
    watchers: list[Watcher] = field(default_factory=list)
    finished: list[Watcher] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, t0: float) -> None:
        for _ in range(self.steady):
            self._join(t0, None)
        next_join = t0
        poller = zmq.Poller()
        while not self.stop.is_set() or any(w.sub.socket.poll(0) for w in self.watchers):
            now = time.monotonic()
            if now >= next_join and not self.stop.is_set():
                self._join(now, now + self.rng.uniform(1, 4 * self.churn_every_s))
                next_join = now + self.churn_every_s
            for w in [w for w in self.watchers if w.leaves_s is not None and now >= w.leaves_s]:
                self._leave(w)
            by_socket = {w.sub.socket: w for w in self.watchers}
            for socket in by_socket:
                poller.register(socket, zmq.POLLIN)
            for socket, _ in poller.poll(100):
                watcher = by_socket[socket]
                while socket.poll(0):
                    message = watcher.sub.receive()
                    if isinstance(message, PoseFrame):
                        watcher.take(message)
            for socket in by_socket:
                poller.unregister(socket)
        for w in list(self.watchers):
            self._leave(w)

    def _join(self, now: float, leaves_s: float | None) -> None:
        self.watchers.append(Watcher(Subscriber(self.endpoint, "cam0"), now, leaves_s))

    def _leave(self, watcher: Watcher) -> None:
        watcher.sub.close()
        self.watchers.remove(watcher)
        self.finished.append(watcher)


def _sample(pipeline: Pipeline, process: psutil.Process, t0: float) -> dict:
    return {"t_s": round(time.monotonic() - t0, 2), "rss_mb": round(process.memory_info().rss / 2**20, 1),
            "captured": pipeline.captured, "published": pipeline.publisher.sent,
            "queues": {name: len(q) for name, q in pipeline.queues.items()}}


def soak(pipeline: Pipeline, minutes: float, steady_subscribers: int = 2, churn_every_s: float = 3.0,
         warmup_s: float = 20.0, sample_every_s: float = 1.0, seed: int = 0) -> dict:
    """Run ``pipeline`` (a looped, paced source) for ``minutes`` with subscribers coming and going;
    returns the summary. The pipeline is stopped and closed at the end."""
    duration_s = minutes * 60
    if duration_s <= warmup_s + 5 * sample_every_s:
        raise ValueError(f"a soak of {duration_s:.0f} s leaves too little after the {warmup_s:.0f} s warm-up")
    crowd = Crowd(pipeline.publisher.endpoint, steady_subscribers, churn_every_s, random.Random(seed))
    process, t0 = psutil.Process(), time.monotonic()
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(report=pipeline.run()), name="pipeline")
    reader = threading.Thread(target=crowd.run, args=(t0,), name="subscribers")
    reader.start()
    runner.start()
    samples = []
    try:
        with tqdm(total=int(duration_s), unit="s", desc="soak") as bar:
            while (elapsed := time.monotonic() - t0) < duration_s and runner.is_alive():
                samples.append(_sample(pipeline, process, t0))
                bar.update(int(elapsed) - bar.n)
                bar.set_postfix(rss_mb=samples[-1]["rss_mb"], published=samples[-1]["published"])
                time.sleep(sample_every_s)
    except KeyboardInterrupt:  # a shorter soak is still worth its summary
        pass
    pipeline.stop.set()
    runner.join()
    crowd.stop.set()
    reader.join()
    if "report" not in result:
        raise RuntimeError("the pipeline failed during the soak; see the log")
    return summarise(result["report"], samples, crowd.finished, pipeline, warmup_s)


def _median(samples: list[dict], key: str) -> float:
    return float(np.median([s[key] for s in samples]))


def summarise(report: dict, samples: list[dict], watchers: list[Watcher], pipeline: Pipeline,
              warmup_s: float) -> dict:
    settled = [s for s in samples if s["t_s"] >= warmup_s]
    head, tail = settled[:5], settled[-5:]
    rss_start, rss_end = _median(head, "rss_mb"), _median(tail, "rss_mb")
    span = settled[-1]["t_s"] - settled[0]["t_s"]
    fps_in = (settled[-1]["captured"] - settled[0]["captured"]) / span
    fps_out = (settled[-1]["published"] - settled[0]["published"]) / span
    bounds = {name: q.maxsize for name, q in pipeline.queues.items()}
    queue_max = {name: max(s["queues"][name] for s in samples) for name in bounds}
    counts = report["counts"]
    # Why captured frames were not published; with ``published`` these add up to ``captured``.
    drops = {k: v for k, v in counts.items() if k.startswith(("dropped_wait", "skipped")) or k in
             ("dropped_by_socket", "non_finite_3d")}
    drops["no_person_not_held"] = counts["no_person"] - counts["held_invalid"]
    checks = {
        "rss_flat": rss_end <= rss_start * (1 + MAX_RSS_GROWTH),
        "queues_bounded": all(queue_max[name] <= bounds[name] for name in bounds),
        "every_drop_counted": counts["unaccounted"] == 0,
        "seq_monotonic": all(w.seq_violations == 0 for w in watchers),
        "steady_subscribers_lost_nothing": all(w.sub.lost == 0 for w in watchers if w.leaves_s is None),
    }
    return {
        "passed": all(checks.values()),
        "checks": checks,
        "duration_s": round(samples[-1]["t_s"], 1),
        "warmup_s": warmup_s,
        "rss_mb": {"after_warmup": rss_start, "end": rss_end, "growth_pct": round(100 * (rss_end / rss_start - 1), 2),
                   "max": max(s["rss_mb"] for s in samples)},
        "fps": {"input": round(fps_in, 2), "output": round(fps_out, 2), "source_nominal": pipeline.source.fps},
        "queues": {"max_seen": queue_max, "bound": bounds},
        "drops_by_cause": drops,
        "unaccounted": counts["unaccounted"],
        "subscribers": {"joined": len(watchers), "steady": sum(w.leaves_s is None for w in watchers),
                        "received": [w.received for w in watchers], "lost": [w.sub.lost for w in watchers],
                        "seq_violations": sum(w.seq_violations for w in watchers)},
        "counts": counts,
        "samples": samples,
    }


def plot_soak(summary: dict, path: str | Path) -> None:
    """PNG: resident memory, input/output fps and queue lengths over the run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = summary["samples"]
    t = np.array([s["t_s"] for s in samples])
    fig, (mem, fps, queues) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    mem.plot(t, [s["rss_mb"] for s in samples], color="tab:purple")
    mem.axvline(summary["warmup_s"], color="grey", ls="--", lw=0.8, label="end of warm-up")
    mem.set_ylabel("RSS (MiB)")
    mem.set_title(f"soak {summary['duration_s']:.0f} s: RSS {summary['rss_mb']['after_warmup']:.0f} -> "
                  f"{summary['rss_mb']['end']:.0f} MiB ({summary['rss_mb']['growth_pct']:+.1f}%)")
    mem.legend()
    dt = np.diff(t)
    for key, label in (("captured", "input"), ("published", "output")):
        fps.plot(t[1:], np.diff([s[key] for s in samples]) / dt, label=f"{label} fps")
    fps.set_ylabel("frames / s")
    fps.legend()
    for name in summary["queues"]["bound"]:
        queues.plot(t, [s["queues"][name] for s in samples], label=name)
    queues.set_ylabel("queue length")
    queues.set_xlabel("time (s)")
    queues.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
