#!/usr/bin/env python
"""Draw a recorded session onto its source video: 2D skeleton on each frame, 3D view beside it.

    python tools/annotate.py assets/sample.mp4 session.npz --out annotated.mp4
    python tools/annotate.py clip.mp4 session.npz --out a.mp4 --gif docs/figures/sample.gif --still docs/figures/sample.png

The recording comes from stream.recorder (docs/recording.md) of a run on the same video; poses
are matched to frames by seq. Every frame is written, with or without a pose.
"""
from __future__ import annotations

import argparse
import sys

from stream.annotate import annotate_video, poses_by_seq, save_gif
from stream.recorder import load_recording
from stream.shutdown import stop_on_sigterm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="the source video the session was recorded from")
    parser.add_argument("recording", help=".npz recording (docs/recording.md)")
    parser.add_argument("--out", required=True, help="annotated .mp4 to write")
    parser.add_argument("--stream", help="stream id, when the recording holds several")
    parser.add_argument("--gif", help="also write a looping GIF of the result here")
    parser.add_argument("--still", help="also write the middle frame of the result as a PNG here")
    parser.add_argument("--gif-width", type=int, default=480, help="GIF width in px (default 480)")
    parser.add_argument("--gif-every", type=int, default=3, help="keep every n-th frame in the GIF (default 3)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        if args.gif_width < 16 or args.gif_every < 1:
            raise ValueError("--gif-width must be >= 16 and --gif-every >= 1")
        if args.still and not args.gif:
            raise ValueError("--still is written together with --gif")
        poses = poses_by_seq(load_recording(args.recording).decoded(), args.stream)
        counts = annotate_video(args.video, poses, args.out)
        print(f"wrote {args.out}: {counts['frames']} frames, {counts['annotated']} with a pose"
              + (f", {counts['poses_past_end']} poses past the video's end" if counts["poses_past_end"] else ""))
        if args.gif:
            gif = save_gif(args.out, args.gif, args.gif_width, args.gif_every, still=args.still)
            print(f"wrote {args.gif}: {gif['gif_frames']} frames, {gif['gif_bytes'] / 1e6:.2f} MB"
                  + (f"; {args.still}" if args.still else ""))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.out} holds the frames written so far", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
