"""Measure the torch CUDA backend on a GPU machine with PyTorch only, in a few minutes (see engines/gpu_check.py).

    python tools/gpu_check.py --out gpu-check.json          # on the GPU machine
    python tools/gpu_check.py --dry-run --out /tmp/x.json   # anywhere: fp32 on the CPU, a few iterations
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engines.gpu_check import MODELS, run_check


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="JSON report")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--iters", type=int, default=200, help="timed calls per measurement (fewer if the budget ends)")
    p.add_argument("--budget-s", type=float, default=420.0, help="seconds of timing in all (shared evenly)")
    p.add_argument("--models", nargs="+", default=list(MODELS), help=f"default: {' '.join(MODELS)}")
    p.add_argument("--dry-run", action="store_true", help="on the CPU, fp32 only, 3 iterations on 8 windows")
    a = p.parse_args(argv)
    try:
        if any(b < 1 for b in a.batches) or a.iters < 1 or a.budget_s <= 0:
            raise ValueError("batches and --iters must be at least 1 and --budget-s positive")
        report = run_check(tuple(a.batches), 3 if a.dry_run else a.iters, a.budget_s, a.dry_run, tuple(a.models))
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
