#!/usr/bin/env python
"""Turn a latency report of run_stream.py (--report) into a PNG: per-stage percentiles + timeline."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.report import load_report, plot_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path, help="JSON report written by run_stream.py --report")
    parser.add_argument("--out", type=Path, help="PNG path (default: the report's path with .png)")
    args = parser.parse_args(argv)
    try:
        report = load_report(args.report)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or args.report.with_suffix(".png")
    plot_report(report, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
