#!/usr/bin/env python
"""Run the live pipeline: camera/video/images -> 2D -> 3D lifter -> ZeroMQ, then print a latency report.

    python run_stream.py                                   # webcam 0, settings from config.yaml
    python run_stream.py --source assets/sample.mp4        # a video, paced like a camera
    python run_stream.py --source clip.mp4 --as-fast-as-possible --report runs/latency.json
    python run_stream.py --set lifter.lookahead=5 --set filter.enabled=true
    python run_stream.py --source clip.mp4 --record session.npz --annotate clip_3d.mp4

Any setting of config.yaml can be overridden with ``--set section.key=value``. A bad setting,
or a missing or unusable file (video, checkpoint, ONNX graph, key), exits with status 2 and one
line: ``run_stream.py: error: <what>: <why>``. SIGINT/SIGTERM stop after draining the frames in
flight and still print and write the report; a second one exits at once.
"""
from __future__ import annotations

import argparse
import logging
import sys
from contextlib import nullcontext
from pathlib import Path

from stream.annotate import annotate_video, poses_by_seq
from stream.config import load_settings
from stream.recorder import BackgroundRecorder

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.yaml"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="settings file (default: config.yaml)")
    parser.add_argument("--source", help="camera index, video file or image folder (source.uri)")
    parser.add_argument("--as-fast-as-possible", action="store_true",
                        help="process every frame of a file instead of pacing it at its frame rate")
    parser.add_argument("--report", type=Path, help="write the JSON latency report here (pipeline.report)")
    parser.add_argument("--backend", help="lifter engine backend, e.g. auto, torch, onnxruntime-cpu (lifter.backend)")
    parser.add_argument("--lookahead", type=int, help="future frames the lifter waits for (lifter.lookahead)")
    parser.add_argument("--weights", type=Path, help="lifter checkpoint (.safetensors) or ONNX graph (lifter.weights)")
    parser.add_argument("--endpoint", help="ZeroMQ endpoint to bind (publisher.endpoint)")
    parser.add_argument("--record", type=Path,
                        help="save every published message to this .npz (docs/recording.md)")
    parser.add_argument("--annotate", type=Path,
                        help="video sources: also write the clip with its 2D and 3D skeletons to this .mp4")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting, e.g. --set filter.enabled=true (repeatable)")
    return parser.parse_args(argv)


def flag_values(args: argparse.Namespace) -> dict:
    """The settings given by dedicated flags (``--set`` overrides are applied after them)."""
    flags = {"source.uri": args.source, "pipeline.report": args.report, "lifter.backend": args.backend,
             "lifter.lookahead": args.lookahead, "lifter.weights": args.weights,
             "publisher.endpoint": args.endpoint,
             "source.as_fast_as_possible": True if args.as_fast_as_possible else None,
             # keeping the output needs its own subscriber, which must not miss the first poses
             "publisher.wait_for_subscriber_s": 5.0 if (args.record or args.annotate) else None}
    return {key: value for key, value in flags.items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config, args.overrides, flag_values(args))
        if args.annotate and not Path(str(settings.source.uri)).is_file():
            raise ValueError(f"--annotate needs a video file source, not {settings.source.uri!r}")
        from stream.pipeline import Pipeline
        from stream.report import format_report, write_report

        pipeline = Pipeline.from_settings(settings)
    except (ValueError, OSError, RuntimeError) as err:  # FileNotFoundError is an OSError
        message = " ".join(str(err).split())  # always one line
        print(f"run_stream.py: error: {message}", file=sys.stderr)
        return 2
    print(f"publishing on {pipeline.publisher.endpoint} (topics pose3d/{settings.publisher.stream_id}, "
          f"meta/{settings.publisher.stream_id}); Ctrl-C stops", flush=True)
    keep = args.record or args.annotate
    with BackgroundRecorder(pipeline.publisher.endpoint, settings.publisher.stream_id) if keep else nullcontext() as kept:
        report = pipeline.run()
    if settings.pipeline.print_report:
        print(format_report(report), flush=True)
    if settings.pipeline.report is not None:
        write_report(report, settings.pipeline.report)
        print(f"wrote {settings.pipeline.report}")
    if args.record:
        print(f"wrote {kept.recorder.save(args.record)}")
    if args.annotate:
        counts = annotate_video(settings.source.uri, poses_by_seq(kept.recorder.messages), args.annotate)
        print(f"wrote {args.annotate}: {counts['frames']} frames, {counts['annotated']} with a pose")
    return 0


if __name__ == "__main__":
    sys.exit(main())
