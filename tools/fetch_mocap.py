"""Download public mocap packages and cache their clips as H36M-17 joint positions.

    python tools/fetch_mocap.py [--cache data/mocap] [--fps 50] [--sources cmu dart ...] [--force]
"""
from __future__ import annotations

import argparse
import sys
import time

from engines.data.mocap import SOURCES, fetch_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="data/mocap", help="cache directory (default: data/mocap)")
    parser.add_argument("--fps", type=float, default=50.0, help="output frame rate (default: 50, as H36M)")
    parser.add_argument("--sources", nargs="+", choices=list(SOURCES), help="default: all")
    parser.add_argument("--force", action="store_true", help="re-download and convert even if cached")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        manifest = fetch_all(args.cache, fps=args.fps, sources=args.sources, force=args.force)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    clips = manifest["clips"].values()
    for name, entry in sorted(manifest["clips"].items()):
        checks = " ".join(f"{check}={result['value']}" for check, result in entry["checks"].items()
                          if check != "finite")
        print(f"  {name:30s} {entry['frames']:6d} frames {entry['duration_s']:7.2f} s  {checks}")
    seconds = sum(entry["duration_s"] for entry in clips)
    print(f"{len(manifest['clips'])} clips, {sum(e['frames'] for e in clips)} frames "
          f"({seconds / 60:.1f} min) at {manifest['fps']:g} fps in {args.cache} "
          f"[{time.perf_counter() - start:.1f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
