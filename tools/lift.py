"""Lift a recorded 2D pose sequence to 3D with a lifter checkpoint (see engines/lift.py).

    hotstream-lift keypoints.npy --weights weights/hot.safetensors \\
        --width 1920 --height 1080 --fps 30 --lookahead 13 --output pose3d.npz
    hotstream-lift session.npz --lookahead 5 --output pose3d.npz

INPUT is a .npy/.npz array: (N, 17, 2) Human3.6M joints or (N, 33, 2|3) MediaPipe landmarks
(a third channel of visibility is dropped), in pixels with --width/--height, else already
normalised (x/w*2-1, y/w*2-h/w; values far outside +-1 are refused as pixels); --fps is needed.
Or a stream recording (docs/recording.md): its rate, image size and persons come from it, and
each run of one person is lifted on its own. The output .npz holds ``pose3d`` (N, 17, 3):
metres, root-relative, camera coordinates, one pose per input frame (and ``seq``, ``person`` for
a recording). With --world (MediaPipe's
world landmarks of the same frames) ``pose3d`` is fused with them, as the live pipeline publishes
it; ``pose3d_lifter`` is always the lifter's alone.
"""
from __future__ import annotations

import argparse
import logging
import sys

from engines.checkpoint import CheckpointError
from engines.lift import lift_file
from engines.runtime import BACKENDS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="2D poses: .npy or .npz, (N, 17, 2) or (N, 33, 2|3)")
    p.add_argument("--weights", help="checkpoint (.safetensors); default: the shipped live model")
    p.add_argument("--output", required=True, help="output .npz")
    p.add_argument("--lookahead", type=int, default=0,
                   help="future frames each window sees (0: causal; (T-1)//2: the paper's centre frame)")
    p.add_argument("--width", type=float, help="image width in pixels (input in pixels)")
    p.add_argument("--height", type=float, help="image height in pixels (input in pixels)")
    p.add_argument("--fps", type=float, help="input frame rate (needed unless the input says it); resampled "
                   "to the model's rate and back")
    p.add_argument("--stream", help="stream id, when a recording holds several")
    p.add_argument("--backend", default="auto", choices=("auto",) + BACKENDS)
    p.add_argument("--batch-size", type=int, default=256, help="windows per engine call")
    p.add_argument("--world", help="MediaPipe world landmarks of the same frames, (N, 33, 3) .npy in metres: "
                   "pose3d is then fused with them as the live pipeline does (lifter.fuse_world)")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation (lifter.flip)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = lift_file(a.input, a.output, a.weights, a.lookahead, a.width, a.height, a.fps,
                            a.backend, a.batch_size, stream_id=a.stream, world_path=a.world, flip=a.flip)
    except (CheckpointError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {summary['output']}: {summary['frames']} frames at {summary['fps']:g} fps, backend "
          f"{summary['backend']}, window {summary['window']}, lookahead {summary['lookahead']}"
          + (f", resampled via {summary['model_fps']:g} fps" if summary["resampled"] else "")
          + (f", {summary['people']} people lifted apart" if summary["people"] > 1 else "")
          + (", fused with the world landmarks" if summary["fused"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
