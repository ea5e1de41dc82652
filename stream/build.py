"""Settings -> the live pipeline's parts, ready to run.

Everything is built here, before any thread starts: the source is opened, the 2D model and the
engine are loaded, the socket is bound and given the stream's description, the other outputs
(:mod:`stream.sinks`) are started, and the engine is warmed up. So a bad setting or an unusable file fails here, and the stage loops
(:mod:`stream.pipeline`) get ready parts and a few plain values, never ``Settings``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engines.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS
from stream import wire
from stream.config import Settings
from stream.lifter import LifterStage
from stream.pose2d import create_pose2d
from stream.publisher import Publisher
from stream.sinks import SinkRunner, start_sinks
from stream.smoothing import PoseSmoother
from stream.tracking import CONFIRM_FRAMES, PeopleTracker
from stream.sources import Source, open_source

if TYPE_CHECKING:  # engines.runtime loads the model code: only when an engine is built
    from engines.runtime import Engine


@dataclass(frozen=True)
class Components:
    """The parts a pipeline runs, built and ready (the engine warmed up)."""

    stop: threading.Event  # set to end the run; a reconnecting camera stops waiting on it too
    source: Source
    pose2d: object  # a stream.pose2d backend: estimate(image, t_ms) -> list[Pose2D]
    tracker: PeopleTracker  # numbers the people the backend finds
    engine: Engine
    lifter: LifterStage
    publisher: Publisher  # its description (the meta message) already set
    sinks: list[SinkRunner]  # the other outputs, each running in its own thread


@dataclass(frozen=True)
class RunOptions:
    """The plain values the stage loops need."""

    frame_queue: int  # images waiting for the 2D stage
    pose_queue: int  # poses waiting for the lifter, and lifted poses waiting for the publisher
    drop_oldest: bool  # a live source: a full queue drops its oldest item instead of blocking
    max_frames: int | None  # stop after reading this many frames
    wait_for_subscriber_s: float  # how long to wait for a first subscriber before starting
    report_frames: int  # the newest frames whose timings the report keeps
    settings_json: dict  # every setting, for the report
    media_clock: bool  # a file or folder: motion is timed by frame index / fps, not by when it was read


def load_default_engine(settings: Settings) -> Engine:
    """The engine for ``lifter.weights``: a checkpoint (.safetensors) or an exported ``.onnx`` graph."""
    from engines.runtime import load_engine

    weights = settings.lifter.weights
    onnx = weights if weights is not None and weights.suffix.lower() == ".onnx" else None
    options = {} if settings.lifter.frame_cache is None else {"frame_cache": settings.lifter.frame_cache}
    return load_engine(weights=None if onnx else weights, onnx=onnx, backend=settings.lifter.backend,
                       lookahead=settings.lifter.lookahead, threads=settings.lifter.threads,
                       flip=settings.lifter.flip, **options)


def _live(settings: Settings, source: Source) -> bool:
    """A camera, or a file paced like one: latency must not build up, so frames may be dropped."""
    return not settings.source.as_fast_as_possible or source.source_id.startswith("camera:")


def build_components(settings: Settings, engine: Engine | None = None, source: Source | None = None) -> Components:
    """Every part ``settings`` names; ``engine`` and ``source`` (tests) replace the ones it names.

    When a part cannot be built, the ones built before it are closed again.
    """
    s = settings
    stop = threading.Event()
    src = s.source
    source = source if source is not None else open_source(
        src.uri, src.as_fast_as_possible, src.images_fps, src.camera_width, src.camera_height, src.camera_fps,
        loop=src.loop, reconnect_backoff_s=src.reconnect_backoff_s,
        reconnect_backoff_max_s=src.reconnect_backoff_max_s, reconnect_timeout_s=src.reconnect_timeout_s,
        stall_s=src.stall_s, stop=stop)
    pose2d = None
    try:
        pose2d = create_pose2d(**s.pose2d.model_dump())
        engine = engine if engine is not None else load_default_engine(s)
        if engine.lookahead != s.lifter.lookahead:
            raise ValueError(f"engine lookahead {engine.lookahead} != lifter.lookahead {s.lifter.lookahead}")
        smoother = (PoseSmoother(source.fps, s.filter.min_cutoff, s.filter.beta, s.filter.d_cutoff)
                    if s.filter.enabled else None)
        lifter = LifterStage(engine, s.lifter.hold_frames, s.root.enabled, s.root.focal_px,
                             s.root.hfov_deg, smoother, s.lifter.max_batch if _live(s, source) else None,
                             s.lifter.min_key_score, tuple(s.lifter.key_joints), s.lifter.fuse_world,
                             s.pose2d.max_people, s.lifter.fuse_tau_s)
        tracker = PeopleTracker(s.pose2d.lost_s, s.pose2d.reentry_s, s.pose2d.max_people, min_frames=CONFIRM_FRAMES)
        p = s.publisher
        publisher = Publisher(p.endpoint, p.stream_id, p.send_hwm, p.meta_interval_s,
                              allow_remote=p.allow_remote, curve_secret_key=p.curve_secret_key,
                              curve_allowed_clients=p.curve_allowed_clients)
        try:
            sinks = start_sinks(s.sinks, p.stream_id)
        except BaseException:
            publisher.close()
            raise
    except BaseException:
        source.close()
        if pose2d is not None:
            pose2d.close()
        raise
    publisher.description = wire.plain(describe_stream(s, engine, source))
    _warm_up(engine)
    return Components(stop, source, pose2d, tracker, engine, lifter, publisher, sinks)


def run_options(settings: Settings, source: Source) -> RunOptions:
    """The plain values for the stage loops that run ``source``."""
    p = settings.pipeline
    return RunOptions(frame_queue=p.frame_queue, pose_queue=p.pose_queue,
                      drop_oldest=_live(settings, source), max_frames=p.max_frames,
                      wait_for_subscriber_s=settings.publisher.wait_for_subscriber_s,
                      report_frames=p.report_frames, settings_json=settings.model_dump(mode="json"),
                      media_clock=not source.source_id.startswith("camera:"))


def describe_stream(settings: Settings, engine: Engine, source: Source) -> dict:
    """The stream description consumers get on ``meta/<stream_id>``."""
    s = settings
    return {
        "joint_names": list(JOINT_NAMES),
        "parents": list(PARENTS),
        "units": {"pose3d": "m", "pose2d": "px", "score": "1", "root": "m"},
        "coordinates": {
            "pose3d": "camera frame, x right, y down, z forward; root-relative (pelvis at 0)",
            "root": "camera frame, x right, y down, z forward; pelvis position from the camera",
            "pose2d": "image pixels, origin top-left, x right, y down",
        },
        "model": engine.describe(),
        "window": engine.window,
        "lookahead": engine.lookahead,
        "fps": source.fps,
        "source": source.source_id,
        "source_state": source.state(),
        "max_people": s.pose2d.max_people,
        "people": [],
        "root": {"enabled": s.root.enabled, "focal_px": s.root.focal_px, "hfov_deg": s.root.hfov_deg},
        "filter": s.filter.model_dump(),
        "topics": {"pose": wire.pose_topic(s.publisher.stream_id).decode(),
                   "meta": wire.meta_topic(s.publisher.stream_id).decode()},
    }


def _warm_up(engine: Engine) -> None:
    """Run the engine once so one-off initialisation does not land on the first frames (the
    2D model is warmed up by ``create_pose2d``)."""
    engine.run(np.zeros((1, engine.window, NUM_JOINTS, 2), np.float32))
