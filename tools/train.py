"""Train a lifter on mocap-derived 2D/3D pairs (see engines/train.py).

The shipped weights engines/weights/live-cpu.safetensors come from the defaults:
    .venv/bin/python tools/train.py --out runs/live-cpu
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.train import DEFAULT_HOLDOUT, TrainConfig, load_clips, load_mix, split_holdout, train  # noqa: E402


def parse_overrides(items: list[str]) -> dict:
    """KEY=VALUE pairs with JSON values (``num_frames=1``, ``prune=null``)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main() -> int:
    d = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=d.preset)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="model config overrides, JSON values (e.g. num_frames=1 prune=null)")
    p.add_argument("--no-prune", action="store_true", help="the same backbone without token pruning")
    p.add_argument("--aug", nargs="*", default=[], metavar="KEY=VALUE",
                   help="augmentation overrides (engines/data/synth.py:Augmentation), e.g. limb_rotation_deg=0")
    p.add_argument("--noise", nargs="*", default=[], metavar="KEY=VALUE",
                   help="2D noise overrides (engines/data/synth.py:DetectorNoise), e.g. swap_body_prob=0")
    p.add_argument("--data", default="data/mocap", help="mocap cache directory (tools/fetch_mocap.py)")
    p.add_argument("--holdout", nargs="*", default=list(DEFAULT_HOLDOUT),
                   help="glob patterns of clip names held out for validation")
    p.add_argument("--user-source", nargs="*", default=[],
                   help="extra BVH/AMC/C3D/npz clips to train on")
    p.add_argument("--mix", help="data-mix YAML: sources: {name: weight}, user: [{path, weight}]")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--epochs", type=int, help="train this many epochs of --steps-per-epoch batches instead")
    p.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch)
    p.add_argument("--minutes", type=float, help="also stop after this much training time")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--out", default=d.out)
    p.add_argument("--val-windows", type=int, default=d.val_windows, help="held-out windows per validation")
    p.add_argument("--snapshots", action="store_true", help="keep a checkpoint of every epoch")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--init", help="start from these weights (same architecture)")
    p.add_argument("--reference", help="multi-camera reference .npz (tools/triangulate.py): real-video P-MPJPE "
                   "in the log and the curves")
    p.add_argument("--reference-every", type=int, default=d.reference_every, help="steps between real-video evaluations")
    a = p.parse_args()
    try:
        steps = a.epochs * a.steps_per_epoch if a.epochs else a.steps
        cfg = TrainConfig(out=a.out, preset=a.preset, overrides=parse_overrides(a.set), no_prune=a.no_prune,
                          augmentation=parse_overrides(a.aug), noise=parse_overrides(a.noise),
                          steps=steps, minutes=a.minutes, steps_per_epoch=a.steps_per_epoch,
                          batch_size=a.batch_size, lr=a.lr, seed=a.seed, threads=a.threads,
                          val_windows=a.val_windows, snapshots=a.snapshots, resume=a.resume, init=a.init,
                          reference=a.reference, reference_every=a.reference_every)
        clips, weights = load_clips(a.data, a.user_source, load_mix(a.mix))
        train_clips, val_clips = split_holdout(clips, a.holdout)
        train_ids = {id(c) for c in train_clips}
        keep = [id(c) in train_ids for c in clips]
        data_info = {"cache": a.data, "user_sources": a.user_source, "mix": a.mix,
                     "train_sources": sorted({c.source for c in train_clips}),
                     "train_clips": len(train_clips), "holdout_patterns": a.holdout}
        final = train(cfg, train_clips, val_clips, weights[keep], data_info)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
