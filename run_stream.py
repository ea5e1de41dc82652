#!/usr/bin/env python
"""Run the live pipeline: camera/video/images -> 2D -> 3D lifter -> ZeroMQ, then print a latency report.

    python run_stream.py                                   # webcam 0, settings from config.yaml
    python run_stream.py --source assets/sample.mp4        # a video, paced like a camera
    python run_stream.py --source clip.mp4 --as-fast-as-possible --report runs/latency.json
    python run_stream.py --set lifter.lookahead=5 --set filter.enabled=true
    python run_stream.py --source clip.mp4 --record session.npz --annotate clip_3d.mp4
    python run_stream.py --vmc 127.0.0.1:39539 --mcap session.mcap --foxglove --ros2

Any setting of config.yaml can be overridden with ``--set section.key=value``. A bad setting,
or a missing or unusable file (video, checkpoint, ONNX graph, key), exits with status 2 and one
line: ``run_stream.py: error: <what>: <why>``. SIGINT/SIGTERM stop after draining the frames in
flight and still print and write the report; a second one exits at once.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stream.annotate import annotate_video, poses_by_seq
from stream.config import load_settings

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.yaml"


class _OneLineParser(argparse.ArgumentParser):
    """A bad flag is one line (no usage block), as every other bad input is."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (--help for usage)\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="settings file (default: config.yaml)")
    parser.add_argument("--source", help="camera index, video file or image folder (source.uri)")
    parser.add_argument("--as-fast-as-possible", action="store_true",
                        help="process every frame of a file instead of pacing it at its frame rate")
    parser.add_argument("--report", type=Path, help="write the JSON latency report here (pipeline.report)")
    parser.add_argument("--backend", help="lifter engine backend, e.g. auto, torch, onnxruntime-cpu (lifter.backend)")
    parser.add_argument("--lookahead", type=int, help="future frames the lifter waits for (lifter.lookahead)")
    parser.add_argument("--weights", type=Path, help="lifter checkpoint (.safetensors) or ONNX graph (lifter.weights)")
    parser.add_argument("--endpoint", help="ZeroMQ endpoint to bind (publisher.endpoint)")
    parser.add_argument("--max-people", type=int, metavar="N",
                        help="follow and publish up to N people, each under its own id (pose2d.max_people; "
                             "N > 1 also sets pose2d.backend=tasks and pose2d.num_poses=N)")
    parser.add_argument("--record", type=Path,
                        help="save every published message to this .npz (docs/recording.md)")
    parser.add_argument("--vmc", type=host_port, metavar="HOST:PORT",
                        help="also send VMC over OSC/UDP to this address (docs/outputs.md)")
    parser.add_argument("--ros2", action="store_true", help="also publish ROS 2 topics over DDS (docs/outputs.md)")
    parser.add_argument("--mcap", type=Path, metavar="FILE.mcap", help="also write a ROS 2 bag (MCAP)")
    parser.add_argument("--foxglove", type=int, nargs="?", const=8765, metavar="PORT",
                        help="also serve the Foxglove live WebSocket (default port 8765)")
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
             "pose2d.max_people": args.max_people}
    if args.max_people is not None and args.max_people > 1:  # the one backend that sees several people
        flags.update({"pose2d.backend": "tasks", "pose2d.num_poses": args.max_people})
    return {key: value for key, value in flags.items() if value is not None}


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def flag_sinks(args: argparse.Namespace) -> list[dict]:
    """The outputs the flags ask for, added to config.yaml's ``sinks``."""
    sinks = []
    if args.record or args.annotate:  # --annotate draws from the recording, kept in memory
        sinks.append({"type": "record", "path": args.record})
    if args.vmc:
        sinks.append({"type": "vmc", "host": args.vmc[0], "port": args.vmc[1]})
    if args.ros2:
        sinks.append({"type": "ros2"})
    if args.mcap:
        sinks.append({"type": "mcap", "path": args.mcap})
    if args.foxglove is not None:
        sinks.append({"type": "foxglove", "port": args.foxglove})
    return sinks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config, args.overrides, flag_values(args), flag_sinks(args))
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
    report = pipeline.run()
    if settings.pipeline.print_report:
        print(format_report(report), flush=True)
    if settings.pipeline.report is not None:
        write_report(report, settings.pipeline.report)
        print(f"wrote {settings.pipeline.report}")
    runner = next((s for s in pipeline.sinks if s.name == "record"), None)
    recording = runner.sink if runner is not None else None
    if args.record:
        if recording.saved is None:  # e.g. nobody was seen: the sink counted why
            print(f"run_stream.py: error: {args.record} not written: {runner.last_error}", file=sys.stderr)
            return 1
        print(f"wrote {recording.saved}")
    if args.annotate:
        counts = annotate_video(settings.source.uri, poses_by_seq(recording.recorder.messages), args.annotate)
        print(f"wrote {args.annotate}: {counts['frames']} frames, {counts['annotated']} with a pose")
    return 0


if __name__ == "__main__":
    sys.exit(main())
