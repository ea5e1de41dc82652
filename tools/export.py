"""Export a lifter checkpoint to ONNX and check the graph (ONNX checker, ORT-vs-PyTorch parity, TensorRT ops).

    hotstream-export engines/weights/live-cpu.safetensors runs/live-cpu.onnx
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engines.checkpoint import CheckpointError
from engines.runtime.export import ATTENTION, export_checkpoint

SAMPLE_POSES = Path(__file__).resolve().parent.parent / "assets" / "sample_pose2d.npz"


def batch_arg(text: str) -> int | None:
    if text == "dynamic":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--batch must be a positive integer or 'dynamic', got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="hotstream .safetensors checkpoint")
    parser.add_argument("out", type=Path, help="output .onnx file")
    parser.add_argument("--batch", type=batch_arg, default=None, help="fixed batch size, or 'dynamic' (default)")
    parser.add_argument("--lookahead", type=int, default=0, help="default lookahead recorded in the metadata")
    parser.add_argument("--attention", choices=ATTENTION, default="onnx",
                        help="onnx: standard ops (portable, for TensorRT); onnxruntime: its fused Attention op "
                             "(about 10%% faster on CPU, ONNX Runtime only)")
    parser.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    parser.add_argument("--poses", type=Path, default=SAMPLE_POSES,
                        help="npz with a 'pose2d' (N,17,2) sequence for the real-window parity check "
                             "(default: the bundled sample's)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |ORT - PyTorch| in metres")
    args = parser.parse_args(argv)
    try:
        if not args.poses.is_file():
            raise FileNotFoundError(f"{args.poses}: --poses file not found")
        result = export_checkpoint(args.checkpoint, args.out, poses=args.poses, tolerance=args.tolerance,
                                   attention=args.attention, batch=args.batch, lookahead=args.lookahead,
                                   simplify=not args.no_simplify)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"export": result["export"], "checks": result["checks"]}, indent=1))
    if not result["ok"]:
        print("error: the exported graph failed a check (see above)", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
