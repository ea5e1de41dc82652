"""Triangulate one person from synchronised, calibrated videos into a 3D reference (see stream/multiview.py).

    .venv/bin/python tools/triangulate.py cam01.mp4 cam02.mp4 cam03.mp4 cam04.mp4 \\
        --calibration Calib.qca.txt --output runs/reference.npz
    .venv/bin/python tools/triangulate.py --pose2sim-demo --output runs/reference.npz

The calibration is a Qualisys .qca.txt or a Pose2Sim Calib.toml; videos are matched to cameras by
name (cam01.mp4 -> camera cam01), else by order. --pose2sim-demo fetches Demo_MultiPerson from
the PyPI pose2sim wheel (BSD-3-Clause) into data/pose2sim/ and uses it. The output .npz holds the
reference and every view's BlazePose output; a JSON report of reprojection errors per view and
landmark is written beside it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engines.reference import error_report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="*", help="synchronised videos, one per camera")
    p.add_argument("--calibration", help="Qualisys .qca.txt or Pose2Sim .toml")
    p.add_argument("--pose2sim-demo", action="store_true", help="fetch and use Pose2Sim's Demo_MultiPerson")
    p.add_argument("--output", required=True, help="reference .npz (a .json report is written beside it)")
    p.add_argument("--near", type=float, nargs=3, metavar=("X", "Y", "Z"),
                   help="follow the person nearest this world point (metres); default: the one seen most")
    p.add_argument("--max-people", type=int, default=3, help="people searched for per image")
    p.add_argument("--max-error-px", type=float, default=25.0, help="reprojection error above which a view is dropped")
    a = p.parse_args(argv)
    try:
        if a.pose2sim_demo == bool(a.videos or a.calibration):
            raise ValueError("give videos and --calibration, or --pose2sim-demo")
        if a.pose2sim_demo:
            from engines.data.pose2sim_demo import fetch_demo

            videos, calibration = fetch_demo()
        else:
            if len(a.videos) < 2 or not a.calibration:
                raise ValueError("triangulation needs two or more videos and --calibration")
            videos, calibration = a.videos, a.calibration
        if a.max_people < 1:
            raise ValueError(f"--max-people must be at least 1, got {a.max_people}")
        from stream.multiview import build_reference

        ref = build_reference(videos, calibration, near=a.near, max_people=a.max_people,
                              max_error_px=a.max_error_px)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    output = Path(a.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    ref.save(output)
    report = error_report(ref)
    output.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(f"wrote {output}: {report['frames']} frames at {report['fps']:g} fps, {report['complete_frames']} "
          f"complete, {report['plausible_frames']} with plausible limb lengths")
    print("| camera | median px | p90 px | landmarks used | frames detected | tracker restarts | swaps repaired |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, v in report["views"].items():
        swaps = ", ".join(f"{k} {n}" for k, n in v["swaps_repaired"].items())
        print(f"| {name} | {v['median_px']:.1f} | {v['p90_px']:.1f} | {v['used_fraction']:.0%} | "
              f"{v['frames_detected']} | {v['frames_searched']} | {swaps} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
