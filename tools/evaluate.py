"""Evaluate a checkpoint on real video against a multi-camera reference, or on held-out mocap
clips and, when present, Human3.6M (see engines/evaluate_video.py and engines/evaluate.py).

    hotstream-evaluate --reference runs/reference-demo.npz --out runs/eval-real.md
    hotstream-evaluate --weights engines/weights/live-cpu.safetensors --lookahead 0 5 centre --out runs/eval.md

With --reference (made by tools/triangulate.py) each camera's BlazePose run is lifted and
compared, beside MediaPipe's world landmarks and the fused output, per camera; --out then also
writes a .json and a .png beside the Markdown file. Without it --out writes a .csv beside it.
"""
from __future__ import annotations

import argparse
import sys

from engines import evaluate, evaluate_video


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="hotstream checkpoint (default: the shipped live model); convert "
                   "official weights first with tools/import_weights.py")
    p.add_argument("--backend", default="torch", help="torch, onnxruntime-cpu, tensorrt or auto")
    p.add_argument("--reference", help="multi-camera reference .npz (tools/triangulate.py): evaluate on real video")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    p.add_argument("--lookahead", nargs="+", help="default: 0 5 centre (mocap), 0 (--reference)")
    p.add_argument("--data", default="data/mocap", help="mocap cache with the clips to evaluate on")
    p.add_argument("--clips", nargs="*", help="clip-name glob patterns (default: the checkpoint's held-out clips)")
    p.add_argument("--noise", choices=tuple(evaluate.NOISE_MODES), default="both",
                   help="2D inputs clean, with the detector noise model, or both")
    p.add_argument("--seed", type=int, default=0, help="seed of the fixed virtual cameras and noise")
    p.add_argument("--segments", type=int, nargs=2, metavar=("COUNT", "FRAMES"),
                   help="evaluate COUNT evenly spaced runs of FRAMES frames per clip instead of every frame")
    p.add_argument("--threads", type=int, help="CPU threads of the engine")
    p.add_argument("--figure", help="PNG of predicted vs true skeletons on the first clip (first lookahead, noisy 2D)")
    p.add_argument("--h36m-3d", help="VideoPose3D data_3d_h36m.npz")
    p.add_argument("--h36m-2d", help="VideoPose3D data_2d_h36m_<detector>.npz")
    p.add_argument("--out", help="write the tables to this Markdown file")
    a = p.parse_args(argv)
    try:
        if a.reference:
            if a.lookahead and len(a.lookahead) != 1:
                raise ValueError("--reference takes one --lookahead")
            rows, title = evaluate_video.evaluate_checkpoint(a.reference, a.weights, a.backend,
                                                             (a.lookahead or ["0"])[0], a.flip, a.threads)
            print(evaluate_video.markdown_table(rows))
            if a.out:
                evaluate_video.write_report(rows, a.out, title)
            return 0
        rows = evaluate.evaluate_checkpoint(a.weights, a.backend, a.lookahead or ["0", "5", "centre"], a.flip,
                                            a.threads, a.data, a.clips, a.noise, a.seed,
                                            tuple(a.segments) if a.segments else None, a.figure, a.h36m_3d, a.h36m_2d)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    title = f"weights: {a.weights or 'shipped'} (backend {a.backend}), lookaheads {a.lookahead or 'default'}, seed {a.seed}"
    if a.out:
        print(evaluate.write_tables(rows, a.out, title))
    else:
        print(evaluate.markdown_table(rows + evaluate.summarize(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
