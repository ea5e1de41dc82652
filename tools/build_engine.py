"""Build (or reuse) the cached TensorRT plan for a checkpoint or ONNX file, and print what was built.

Run it once on the target machine (desktop GPU or Jetson) so the live pipeline starts without
waiting for TensorRT's tactic search; see docs/tensorrt.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from engines.checkpoint import CheckpointError
from engines.runtime import load_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", type=Path, help="checkpoint (default: the shipped live model)")
    parser.add_argument("--onnx", type=Path, help="use this exported graph instead of exporting the checkpoint")
    parser.add_argument("--fp32", action="store_true", help="build in fp32 (default: fp16 with pruning in fp32)")
    parser.add_argument("--max-batch", type=int, default=8, help="largest batch the plan accepts")
    parser.add_argument("--cache-dir", type=Path, help="default: ~/.cache/hotstream")
    parser.add_argument("--no-rebuild", action="store_true", help="fail instead of rebuilding a missing/stale plan")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.max_batch < 1:
        print(f"error: --max-batch must be >= 1, got {args.max_batch}", file=sys.stderr)
        return 2
    try:
        engine = load_engine(args.weights, backend="tensorrt", onnx=args.onnx, cache_dir=args.cache_dir,
                             fp16=not args.fp32, max_batch=args.max_batch, rebuild=not args.no_rebuild)
    except (CheckpointError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(engine.describe(), indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
