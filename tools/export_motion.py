#!/usr/bin/env python
"""Export 3D poses for mocap tools: BVH (Blender, MotionBuilder...), CSV, or TRC (OpenSim).

    python tools/export_motion.py session.npz --bvh walk.bvh
    python tools/export_motion.py lifted.npz --csv walk.csv --trc walk.trc --units mm --fps 50

INPUT is an .npz with pose3d (N, 17, 3) and optionally root, fps, seq and stream_id: a stream
recording (docs/recording.md) or tools/lift.py output; or a .npy of the poses alone (give --fps).
Conventions: docs/motion-export.md.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from engines.motion_export import ROOT_JUMP_M, UNITS, load_motion, write_bvh, write_csv, write_trc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help=".npz with pose3d (N, 17, 3), or a .npy of (N, 17, 3) poses")
    parser.add_argument("--bvh", help="write a BVH skeleton animation here")
    parser.add_argument("--csv", help="write joint positions as CSV here")
    parser.add_argument("--trc", help="write joint positions as an OpenSim TRC marker file here")
    parser.add_argument("--fps", type=float, help="frame rate, when the input does not hold one (or to override it)")
    parser.add_argument("--units", choices=sorted(UNITS), default="m", help="length unit of the outputs (default m)")
    parser.add_argument("--stream", help="stream id, when a recording holds several")
    parser.add_argument("--person", type=int, help="person id, when the input holds several (default: the one "
                                                   "with the most poses)")
    args = parser.parse_args(argv)
    writers = [(write, path) for write, path in ((write_bvh, args.bvh), (write_csv, args.csv), (write_trc, args.trc)) if path]
    if not writers:
        parser.error("give at least one of --bvh, --csv, --trc")
    try:
        motion = load_motion(args.input, args.stream, args.fps, args.person)
        for write, path in writers:
            write(path, motion, args.units)
            print(f"wrote {path}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    root = "pelvis at the root estimate" if motion.has_root else "no root estimate: pelvis at the origin"
    print(f"{len(motion.pose3d)} frames at {motion.fps:g} fps, {args.units}, Y up; {root}"
          + (f"; {motion.filled_frames} missing frames interpolated" if motion.filled_frames else ""))
    if motion.other_people:
        left_out = ", ".join(f"person {p} ({n} poses)" for p, n in motion.other_people.items())
        print(f"person {motion.person} only; left out: {left_out} (choose with --person)")
    variation = motion.bone_length_variation()
    worst = max(variation, key=variation.get)
    print(f"bone lengths over the clip vary by {100 * np.median(list(variation.values())):.1f} % (median over "
          f"bones of std/median), most {worst} {100 * variation[worst]:.1f} %; the BVH holds each at its median")
    if len(jumps := motion.root_jumps()):
        print(f"warning: the pelvis jumps more than {ROOT_JUMP_M:g} m from one frame to the next {len(jumps)} "
              f"times (first at frame {jumps[0]}): another person, or a failed root fit?", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
