"""Benchmark lifting engines (and each model's unpruned twin) and write JSON + a markdown table."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from engines.bench import benchmark, humanoid_cost, models_to_bench, people_cost, people_markdown, to_markdown
from engines.checkpoint import CheckpointError
from engines.models import all_presets
from engines.runtime import BACKENDS, unavailable_reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, help="a trained checkpoint to bench (default: none; presets only)")
    parser.add_argument("--preset", nargs="*", default=None, choices=list(all_presets()),
                        help="presets to bench with seeded random weights (default: live-cpu if no --weights)")
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, help="default: every backend available here")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--iters", type=int, default=300, help="timed runs per measurement (capped by --max-seconds)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=20.0,
                        help="time budget per measurement; slow models (official T=243 sizes) stop early")
    parser.add_argument("--cache-dir", type=Path, help="engine cache (default: a temporary directory)")
    parser.add_argument("--out-json", type=Path)
    parser.add_argument("--out-md", type=Path)
    parser.add_argument("--humanoid", action="store_true",
                        help="instead: what the joint-rotation solver (engines/humanoid.py) costs per pose")
    parser.add_argument("--people", type=int, nargs="+", metavar="N",
                        help="instead: the lifter's time per frame with N people, one batched call against N "
                             "calls (--weights, default the shipped model; one --backend, default onnxruntime-cpu)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.people:
        return _people(args)
    if args.humanoid:
        report = humanoid_cost(max(args.iters, 100))
        print(json.dumps(report, indent=1))
        if args.out_json:
            args.out_json.write_text(json.dumps(report, indent=1))
        return 0
    presets = args.preset if args.preset is not None else ([] if args.weights else ["live-cpu"])
    backends = args.backend or [b for b in BACKENDS if unavailable_reason(b) is None]
    try:
        models = models_to_bench(presets, args.weights)
        report = benchmark(models, backends, batches=args.batch, threads=args.threads, iterations=args.iters,
                           warmup=args.warmup, max_seconds=args.max_seconds, cache_dir=args.cache_dir)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return _write(report, to_markdown(report), args)


def _people(args: argparse.Namespace) -> int:
    backends = args.backend or ["onnxruntime-cpu"]
    if len(backends) != 1 or min(args.people) < 1:
        print("error: --people takes one --backend and counts of at least 1", file=sys.stderr)
        return 2
    try:
        report = people_cost(args.weights, backends[0], args.people, threads=args.threads, iterations=args.iters,
                             warmup=args.warmup, max_seconds=args.max_seconds)
    except (CheckpointError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    return _write(report, people_markdown(report), args)


def _write(report: dict, markdown: str, args: argparse.Namespace) -> int:
    """Print the table; write the report and the table where asked."""
    print(markdown)
    if args.out_json:
        args.out_json.write_text(json.dumps(report, indent=1))
    if args.out_md:
        args.out_md.write_text(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
