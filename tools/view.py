#!/usr/bin/env python
"""Watch hotstream poses live in 3D: one panel per stream, with frame rate and latency.

    python tools/view.py                                        # window, tcp://127.0.0.1:5556, all streams
    python tools/view.py --save view.mp4                        # no display needed; ends with the stream
    python tools/view.py --connect tcp://10.0.0.5:5556 --stream cam0

It stops when every stream it shows has ended (its description says ``source_state: ended``),
after --duration or --idle-timeout, on Ctrl-C or SIGTERM (a saved video is finished either way)
or, in the window, on q or Esc.
"""
from __future__ import annotations

import argparse
import sys

from stream.shutdown import stop_on_sigterm
from stream.viewer import run_viewer


def size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 720x400, got {text!r}") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size must be even and at least 64x64, got {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", default="tcp://127.0.0.1:5556", help="publisher endpoint")
    parser.add_argument("--stream", default="all", help="stream id, or 'all' (default) for every stream")
    parser.add_argument("--save", help="write the view to this .mp4 instead of opening a window")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--idle-timeout", type=float, help="stop after this many seconds without a pose")
    parser.add_argument("--fps", type=float, default=30.0, help="drawing (and video) frame rate (default 30)")
    parser.add_argument("--size", type=size, default=(720, 400), help="canvas WIDTHxHEIGHT (default 720x400)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        stats = run_viewer(args.connect, None if args.stream == "all" else args.stream, args.save,
                           args.duration, args.idle_timeout, args.fps, args.size)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"received {stats.received or 0} poses (skipped seq {stats.skipped}, rejected {stats.rejected}); "
          f"drawing p50 {stats.render_ms_p50:.1f} ms")
    if args.save:
        print(f"wrote {args.save} ({stats.video_frames} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
