"""Export a lifter checkpoint to ONNX and check the graph (ONNX checker, ORT-vs-PyTorch parity, TensorRT ops)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engines.checkpoint import CheckpointError, file_sha256, load_model
from engines.export import export_onnx, sliding_windows, verify_export

SAMPLE_POSES = Path(__file__).resolve().parent.parent / "assets" / "sample_pose2d.npz"


def batch_arg(text: str) -> int | None:
    if text == "dynamic":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--batch must be a positive integer or 'dynamic', got {text!r}")
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path, help="hotstream .safetensors checkpoint")
    parser.add_argument("out", type=Path, help="output .onnx file")
    parser.add_argument("--batch", type=batch_arg, default=None, help="fixed batch size, or 'dynamic' (default)")
    parser.add_argument("--lookahead", type=int, default=0, help="default lookahead recorded in the metadata")
    parser.add_argument("--attention", choices=["onnx", "onnxruntime"], default="onnx",
                        help="onnx: standard ops (portable, for TensorRT); onnxruntime: its fused Attention op "
                             "(about 10%% faster on CPU, ONNX Runtime only)")
    parser.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    parser.add_argument("--poses", type=Path, default=SAMPLE_POSES,
                        help="npz with a 'pose2d' (N,17,2) sequence for the real-window parity check")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |ORT - PyTorch| in metres")
    args = parser.parse_args()
    try:
        model, _ = load_model(args.checkpoint)
        report = export_onnx(model, args.out, attention=args.attention, batch=args.batch, lookahead=args.lookahead,
                             simplify=not args.no_simplify, weights_sha256=file_sha256(args.checkpoint))
        c = model.config
        step = args.batch or 1  # a fixed-batch graph is checked on whole batches
        checks = {"random": np.random.default_rng(0).normal(0, 0.3, (max(1, 64 // step) * step, c.num_frames,
                                                                     c.num_joints, 2))}
        if args.poses.is_file():
            real = sliding_windows(np.load(args.poses)["pose2d"], c.num_frames)
            checks["real"] = real[: len(real) // step * step]
        results = {name: verify_export(args.out, model, windows, lookahead=args.lookahead, tolerance=args.tolerance)
                   for name, windows in checks.items() if len(windows)}
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"export": report, "checks": results}, indent=1))
    portable = args.attention == "onnx"  # an ONNX Runtime-only graph is not meant for TensorRT
    ok = all(r["parity"] and not (portable and r["tensorrt_problems"]) for r in results.values())
    if not ok:
        print("error: the exported graph failed a check (see above)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
