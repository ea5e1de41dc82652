"""The report of a finished run: where every captured frame ended, next to the latencies.

Nothing is lost silently. Every captured frame is dropped in a queue before the lifter or gives
the lifter one pose per person in it (``person_frames``, held ones included) or nobody's
(``frames_without_pose``); every such pose ends in one counted outcome (published, dropped in a
queue or by the socket, skipped by the lifter, not finite). The report's ``unaccounted`` count,
what went in minus all outcomes, is 0 after a clean stop. With one person it reads as before:
captured = published + dropped + skipped + not finite + frames without a pose.
Per person (``info.people``, :class:`stream.report.LatencyReport`'s): poses published, rate and
latency under each id. The tracker's counts (new ids, re-entries, id switches, ...) are
``tracker_*``; the 2D stage's time by people in the frame, ``info.pose2d_ms_by_people``, shows
what a person costs it.
Each other output (:mod:`stream.sinks`) reports what it sent, dropped and failed on
(``info.sinks``, and ``sink_<name>_dropped`` / ``_errors`` among the counts).
The latencies and the report's layout are :class:`stream.report.LatencyReport`'s.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from stream import wire
from stream.report import p50_p99

if TYPE_CHECKING:
    from stream.pipeline import Pipeline


def _reader_counts(reader) -> dict[str, int]:
    """A reconnecting camera's failure counts (absent for files)."""
    names = {"read_failures": "camera_read_failures", "reconnects": "camera_reconnects",
             "reopen_failures": "camera_reopen_failures"}
    return {label: getattr(reader, name) for name, label in names.items() if hasattr(reader, name)}


def build_report(pipeline: Pipeline, wall_ns: int) -> dict:
    """The report of ``pipeline``'s run, which took ``wall_ns``: counts, rates, latencies, what ran."""
    p = pipeline
    lifter, source = p.lifter, p.source
    counts = {
        "captured": p.captured,
        "dropped_at_source": source.frames_skipped,
        "invalid_frames": source.frames_invalid,
        **{f"dropped_{name}": q.dropped for name, q in p.queues.items()},
        "no_person": lifter.no_person,
        "frames_without_pose": lifter.frames_without_pose,
        "person_frames": lifter.person_frames,
        "left_right_repaired": lifter.left_right_repaired,
        "non_finite_2d": p.non_finite_2d,
        "held_invalid": lifter.held,
        "skipped_by_lifter": lifter.skipped,
        "non_finite_3d": lifter.non_finite,
        "root_failed": lifter.root_failed,
        "not_confident": lifter.not_confident,
        "published": p.publisher.sent,
        "dropped_by_socket": p.publisher.dropped,
        "meta_sent": p.publisher.meta_sent,
        "meta_dropped": p.publisher.meta_dropped,
        "source_stalls": source.stalls,
        "window_restarts_at_gaps": lifter.epoch_restarts,
        **_reader_counts(source.reader),
        **{f"tracker_{name}": value for name, value in p.tracker.counts.items()},
        **{f"sink_{s.name}_{what}": s.counts()[what] for s in p.sinks for what in ("dropped", "errors")},
    }
    queues = {name: q.dropped for name, q in p.queues.items()}
    frames_unaccounted = (p.captured - queues["wait_2d"] - queues["wait_lift"] - counts["frames_without_pose"]
                          - lifter.frames_with_pose)
    poses_unaccounted = (counts["person_frames"] - counts["published"] - counts["dropped_by_socket"]
                         - counts["skipped_by_lifter"] - counts["non_finite_3d"] - queues["wait_publish"])
    counts["unaccounted"] = frames_unaccounted + poses_unaccounted
    info = {"wall_s": round(wall_ns / 1e9, 3), "source": source.source_id, "paced": source.paced,
            "invalid_frame_reasons": dict(source.invalid_reasons),
            "source_fps": source.fps, "endpoint": p.publisher.endpoint,
            "engine": wire.plain(p.engine.describe()), "settings": p.options.settings_json,
            "sinks": {s.name: s.counts() for s in p.sinks},
            "pose2d_ms_by_people": {str(n): {**p50_p99(times), "n": len(times)}
                                    for n, times in sorted(p.pose2d_ms_by_people.items())}}
    return p.report.build(counts, info, p.capture_span_ns)
