"""Evaluate a checkpoint on real video against a multi-camera reference, or on held-out mocap
clips and, when present, Human3.6M (see engines/evaluate_video.py and engines/evaluate.py).

    .venv/bin/python tools/evaluate.py --reference runs/reference.npz --out runs/eval-real.md
    .venv/bin/python tools/evaluate.py --weights engines/weights/live-cpu.safetensors \\
        --lookahead 0 5 centre --out runs/eval.md

With --reference (made by tools/triangulate.py) each camera's BlazePose run is lifted and
compared, beside MediaPipe's world landmarks and the fused output, per camera; --out then also
writes a .json and a .png beside the Markdown file.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines import evaluate  # noqa: E402
from engines.checkpoint import DEFAULT_WEIGHTS, read_checkpoint  # noqa: E402
from engines.runtime import load_engine  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="hotstream checkpoint (default: the shipped live model); convert "
                   "official weights first with tools/import_weights.py")
    p.add_argument("--backend", default="torch", help="torch, onnxruntime-cpu, tensorrt or auto")
    p.add_argument("--reference", help="multi-camera reference .npz (tools/triangulate.py): evaluate on real video")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    p.add_argument("--lookahead", nargs="+", help="default: 0 5 centre (mocap), 0 (--reference)")
    p.add_argument("--data", default="data/mocap", help="mocap cache with the clips to evaluate on")
    p.add_argument("--clips", nargs="*", help="clip-name glob patterns (default: the checkpoint's held-out clips)")
    p.add_argument("--noise", choices=("none", "detector", "both"), default="both",
                   help="2D inputs clean, with the detector noise model, or both")
    p.add_argument("--seed", type=int, default=0, help="seed of the fixed virtual cameras and noise")
    p.add_argument("--segments", type=int, nargs=2, metavar=("COUNT", "FRAMES"),
                   help="evaluate COUNT evenly spaced runs of FRAMES frames per clip instead of every frame")
    p.add_argument("--threads", type=int, help="CPU threads of the engine")
    p.add_argument("--figure", help="PNG of predicted vs true skeletons on the first clip (lookahead 0, noisy 2D)")
    p.add_argument("--h36m-3d", help="VideoPose3D data_3d_h36m.npz")
    p.add_argument("--h36m-2d", help="VideoPose3D data_2d_h36m_<detector>.npz")
    p.add_argument("--out", help="write the tables to this Markdown file (and a .csv beside it)")
    a = p.parse_args()
    if a.reference:
        return evaluate_real_video(a)
    try:
        weights = a.weights or str(DEFAULT_WEIGHTS)
        config, _, info = read_checkpoint(weights)
        lookaheads = sorted({evaluate.resolve_lookahead(v, config.num_frames) for v in a.lookahead or ["0", "5", "centre"]})
        lifters = {la: load_engine(weights, a.backend, la, threads=a.threads, flip=a.flip).run for la in lookaheads}
        rows = []
        if a.clips is not None or info.get("holdout") or not (a.h36m_3d or a.h36m_2d):
            from engines.data.mocap import load_cache
            from engines.train import split_holdout

            patterns = a.clips if a.clips is not None else info.get("holdout", [])
            if not patterns:
                raise ValueError("the checkpoint names no held-out clips; pass --clips")
            _, clips = split_holdout(load_cache(a.data), patterns)
            modes = {"none": (False,), "detector": (True,), "both": (False, True)}[a.noise]
            rows += evaluate.evaluate_mocap(lifters, clips, config.num_frames, a.seed, modes,
                                            tuple(a.segments) if a.segments else None)
            if a.figure:
                pose2d, truth = evaluate.mocap_sequence(clips[0], a.seed, noisy=True)
                frames = evaluate.segment_frames(len(pose2d), (4, 1))
                shown = np.concatenate(frames)
                pred = evaluate.lift_sequence(lifters[lookaheads[0]], pose2d, config.num_frames, lookaheads[0], shown)
                evaluate.plot_skeletons(pred, truth[shown], [f"frame {f}" for f in shown], a.figure,
                                        f"{clips[0].name} (held out), noisy 2D, lookahead {lookaheads[0]}")
        if a.h36m_3d or a.h36m_2d:
            if not (a.h36m_3d and a.h36m_2d):
                raise ValueError("Human3.6M needs both --h36m-3d and --h36m-2d")
            from engines.data import h36m

            seqs = h36m.sequences(h36m.load_poses_3d(a.h36m_3d), h36m.load_keypoints_2d(a.h36m_2d))
            rows += evaluate.evaluate_h36m(lifters, seqs, config.num_frames)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = evaluate.markdown_table(rows + evaluate.summarize(rows))
    print(table)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"weights: {weights} (backend {a.backend}), lookaheads {lookaheads}, seed {a.seed}\n\n{table}\n")
        with open(out.with_suffix(".csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


def evaluate_real_video(a: argparse.Namespace) -> int:
    from engines.evaluate_video import engine_lift, evaluate_reference, markdown_table, write_report
    from engines.reference import Reference

    try:
        config, _, _ = read_checkpoint(a.weights or DEFAULT_WEIGHTS)
        lookaheads = [evaluate.resolve_lookahead(v, config.num_frames) for v in a.lookahead or ["0"]]
        if len(lookaheads) != 1:
            raise ValueError("--reference takes one --lookahead")
        lift = engine_lift(a.weights, a.backend, lookaheads[0], a.flip, a.threads)
        rows = evaluate_reference(lift, Reference.load(a.reference))
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown_table(rows))
    if a.out:
        title = (f"{a.reference}: weights {a.weights or 'shipped'}, backend {a.backend}, lookahead "
                 f"{lookaheads[0]}{', flip' if a.flip else ''}")
        write_report(rows, a.out, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
