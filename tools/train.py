"""Train a lifter on mocap-derived 2D/3D pairs (see engines/train.py).

    hotstream-train --out runs/live-cpu                       # the live HoT model's recipe
    hotstream-train --preset tcn-81 --out runs/tcn-81         # the VideoPose3D-style causal TCN
    hotstream-train --set model.num_frames=1 --set model.prune=null --set noise.swap_body_prob=0
    hotstream-train --set "cameras.hfov_deg=[30, 85]" --set cameras.portrait_prob=0.5

``--set`` takes ``model.<field>`` (the preset's config, engines/models/), ``augmentation.<field>``
(engines/data/synth.py:Augmentation), ``noise.<field>`` (engines/data/synth.py:DetectorNoise) and
``cameras.<field>`` (engines/data/synth.py:CameraRanges), with YAML values, as run_stream.py's
``--set`` does.
"""
from __future__ import annotations

import argparse
import sys

from engines.models import all_presets
from engines.overrides import nested_overrides
from engines.train import DEFAULT_HOLDOUT, TrainConfig, train_on_mocap

SECTIONS = ("model", "augmentation", "noise", "cameras")


def main(argv: list[str] | None = None) -> int:
    d = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=d.preset, choices=list(all_presets()))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a model, augmentation, noise or cameras field, e.g. --set model.prune=null "
                   "(repeatable)")
    p.add_argument("--no-prune", action="store_true", help="the same HoT backbone without token pruning")
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
    a = p.parse_args(argv)
    try:
        sections = nested_overrides(a.overrides)
        if unknown := set(sections) - set(SECTIONS):
            raise ValueError(f"--set: unknown section(s) {sorted(unknown)}; use {', '.join(SECTIONS)}")
        if flat := [k for k, v in sections.items() if not isinstance(v, dict)]:
            raise ValueError(f"--set {flat[0]}=...: name a field of it, e.g. {flat[0]}.<field>=value")
        steps = a.epochs * a.steps_per_epoch if a.epochs else a.steps
        cfg = TrainConfig(out=a.out, preset=a.preset, overrides=sections.get("model", {}), no_prune=a.no_prune,
                          augmentation=sections.get("augmentation", {}), noise=sections.get("noise", {}),
                          cameras=sections.get("cameras", {}),
                          steps=steps, minutes=a.minutes, steps_per_epoch=a.steps_per_epoch,
                          batch_size=a.batch_size, lr=a.lr, seed=a.seed, threads=a.threads,
                          val_windows=a.val_windows, snapshots=a.snapshots, resume=a.resume, init=a.init,
                          reference=a.reference, reference_every=a.reference_every)
        final = train_on_mocap(cfg, a.data, a.holdout, a.user_source, a.mix)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
