"""Make assets/sample.mp4: the Sports2D demo clip downscaled to 640 px wide, H.264, no audio.

Needs the ffmpeg command line tool (Debian: ``apt-get install ffmpeg``); OpenCV's wheels cannot
encode H.264, and their MPEG-4 part 2 encoder makes a file five times larger at the same quality.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="the Sports2D demo clip (Demo/demo.mp4 of the sports2d wheel, BSD-3-Clause)")
    parser.add_argument("--output", type=Path, default=Path("assets/sample.mp4"))
    parser.add_argument("--width", type=int, default=640, help="output width in pixels (height keeps the aspect)")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality, lower is better and larger")
    args = parser.parse_args(argv)
    if not args.input.is_file():
        print(f"error: input video not found: {args.input}", file=sys.stderr)
        return 2
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("error: the ffmpeg command is not installed (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([
        ffmpeg, "-v", "error", "-y", "-i", str(args.input),
        "-vf", f"scale={args.width}:-2", "-c:v", "libx264", "-preset", "slow", "-crf", str(args.crf),
        "-pix_fmt", "yuv420p", "-an", "-map_metadata", "-1", "-movflags", "+faststart", str(args.output),
    ], check=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
