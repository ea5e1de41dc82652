#!/usr/bin/env python
"""Publish a recorded session again on ZeroMQ, with its original timing or faster.

    python tools/replay.py session.npz                          # tcp://127.0.0.1:5556, real time
    python tools/replay.py session.npz --speed 2 --restamp      # twice as fast, fresh timestamps
    python tools/replay.py session.npz --as-fast-as-possible --bind tcp://127.0.0.1:6000

Waits for the first subscriber (--wait seconds) before it starts, so nothing is sent to no one.
"""
from __future__ import annotations

import argparse
import sys

from stream.recorder import load_recording
from stream.replay import Replayer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", help=".npz written by stream.recorder (docs/recording.md)")
    parser.add_argument("--bind", default="tcp://127.0.0.1:5556", help="endpoint to publish on")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="playback speed factor (default 1.0)")
    pace.add_argument("--as-fast-as-possible", action="store_true", help="send back to back, no pacing")
    parser.add_argument("--restamp", action="store_true",
                        help="shift t_capture_ns/t_publish_ns to now, so consumers see the recorded latency")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a subscriber (default 30)")
    args = parser.parse_args(argv)
    try:
        recording = load_recording(args.recording)
        if not args.speed > 0:
            raise ValueError(f"--speed must be > 0, got {args.speed}")
        replayer = Replayer(recording, args.bind)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with replayer:
        print(f"{len(recording)} messages; waiting for a subscriber on {replayer.endpoint}", flush=True)
        if not replayer.wait_for_subscriber(args.wait):
            print(f"error: no subscriber within {args.wait} s", file=sys.stderr)
            return 1
        try:
            stats = replayer.run(args.speed, args.as_fast_as_possible, args.restamp)
        except KeyboardInterrupt:
            return 130
    print(f"sent {stats.sent} messages in {stats.wall_s:.2f} s; "
          f"late p50 {stats.late_ms_p50:.2f} ms, max {stats.late_ms_max:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
