"""Real-video evaluation against a multi-camera reference (:mod:`engines.reference`).

Per camera, three 3D outputs of the same BlazePose run on that camera's video are compared with
the triangulated reference, expressed in that camera's frame with the pelvis at the origin:

* ``lifter``: the lifter on the camera's 2D landmarks (left and right repaired and sliding
  windows, as live);
* ``mediapipe_world``: MediaPipe's own ``pose_world_landmarks`` mapped to H36M-17;
* ``fused``: the two fused (:func:`engines.fusion.fuse_world`).

Frames count where the reference is plausible (:func:`engines.reference.plausible_frames`) and the camera's BlazePose found the reference
person (its torso within ``max_torso_error`` of the person's height from the reprojected
reference, left and right either way, so a label swap still counts and costs what it costs).
Metrics in mm: MPJPE (no alignment), P-MPJPE (per-frame similarity Procrustes), limbs-only
P-MPJPE (the same alignment, error over knees, ankles, shoulders, elbows and wrists) and the
acceleration error (per frame², over runs of three counted frames).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engines import metrics
from engines.fusion import LIFTER_WEIGHT, TAU_S, fuse_world, world_to_h36m
from engines.left_right import LeftRightRepair
from engines.reference import Reference, plausible_frames
from engines.skeleton import JOINT_INDEX, MP, mediapipe_swap, normalize_screen, mediapipe_to_h36m
from engines.windows import lift_sequence

LIMBS = tuple(JOINT_INDEX[f"{s}_{j}"] for s in ("left", "right")
              for j in ("knee", "ankle", "shoulder", "elbow", "wrist"))
_TORSO = [MP[f"{s}_{j}"] for s in ("left", "right") for j in ("shoulder", "hip")]
OUTPUTS = ("lifter", "mediapipe_world", "fused")
METRICS = ("mpjpe", "p_mpjpe", "p_mpjpe_limbs", "accel")

# (normalised 2D (N, 17, 2), fps) -> root-relative 3D (N, 17, 3) in the camera frame
Lift = Callable[[np.ndarray, float], np.ndarray]


def counted_frames(ref: Reference, view: int, max_torso_error: float = 0.1) -> np.ndarray:
    """(N,) bool: the reference is plausible there and this view's BlazePose is on the reference
    person."""
    cam = ref.cameras[view]
    complete = plausible_frames(ref) & np.isfinite(ref.landmarks3d[:, _TORSO]).all((1, 2))
    projected = np.full((len(ref.pose3d), len(_TORSO), 2), np.nan)
    projected[complete] = cam.project(ref.landmarks3d[complete][:, _TORSO])
    detected = ref.pixels[view][:, _TORSO]
    swapped = ref.pixels[view][:, mediapipe_swap("body")][:, _TORSO]
    error = np.minimum(np.linalg.norm(detected - projected, axis=-1).mean(-1),
                       np.linalg.norm(swapped - projected, axis=-1).mean(-1))
    height = np.ptp(ref.pixels[view][..., 1], axis=-1)
    with np.errstate(invalid="ignore"):
        return complete & (ref.visibility[view].max(-1) > 0) & (error < max_torso_error * height)


def repaired_labels(pixels: np.ndarray, world: np.ndarray, seen: np.ndarray,
                    hold_frames: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """One view's landmarks (N, 33, 2) and world landmarks (N, 33, 3) with left and right
    repaired over time as the live pipeline repairs them (:mod:`engines.left_right`): a new
    track starts after more than ``hold_frames`` frames without a detection (``lifter.hold_frames``)."""
    repair = LeftRightRepair()
    pixels, world = pixels.copy(), world.copy()
    missing = 0
    for i in range(len(pixels)):
        if not seen[i]:
            missing += 1
            if missing > hold_frames:
                repair.reset()
            continue
        missing = 0
        index = repair(pixels[i])
        pixels[i], world[i] = pixels[i][index], world[i][index]
    return pixels, world


def camera_inputs(ref: Reference, view: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised 2D (N, 17, 2), world landmarks as H36M-17 (N, 17, 3) with NaN where none,
    reference (N, 17, 3) in the camera frame, pelvis at 0), left and right repaired as live.
    Frames without a detection repeat the last one (the first detection before it), as a held
    live pose would."""
    cam = ref.cameras[view]
    seen = ref.visibility[view].max(-1) > 0
    if not seen.any():
        raise ValueError(f"camera {cam.name}: BlazePose found nobody in any frame")
    landmarks, world33 = repaired_labels(ref.pixels[view], ref.world[view], seen)
    index = np.maximum.accumulate(np.where(seen, np.arange(len(seen)), -1))
    index[index < 0] = np.argmax(seen)
    pose2d = normalize_screen(mediapipe_to_h36m(landmarks[index]), *cam.size)
    world = np.where(seen[:, None, None], world_to_h36m(world33), np.nan)
    truth = cam.to_camera(ref.pose3d)
    return pose2d, world, truth - truth[:, :1]


def errors(pred: np.ndarray, truth: np.ndarray, counted: np.ndarray) -> dict[str, float]:
    """The metrics (mm) over the counted frames."""
    p, t = pred[counted], truth[counted]
    aligned = metrics.procrustes_align(p, t)
    runs = counted[2:] & counted[1:-1] & counted[:-2]
    accel = np.linalg.norm(np.diff(pred, 2, axis=0) - np.diff(truth, 2, axis=0), axis=-1)[runs]
    return {"mpjpe": 1000 * metrics.mpjpe(p, t), "p_mpjpe": 1000 * metrics.mpjpe(aligned, t),
            "p_mpjpe_limbs": 1000 * float(np.linalg.norm(aligned[:, LIMBS] - t[:, LIMBS], axis=-1).mean()),
            "accel": 1000 * float(accel.mean()) if len(accel) else float("nan")}


def evaluate_reference(lift: Lift, ref: Reference, lifter_weight: np.ndarray = LIFTER_WEIGHT,
                       tau_s: float = TAU_S) -> list[dict]:
    """One row per (camera, output) with the metrics in mm, then the means over cameras."""
    rows = []
    for view, cam in enumerate(ref.cameras):
        counted = counted_frames(ref, view)
        if counted.sum() < 3:
            raise ValueError(f"camera {cam.name}: only {int(counted.sum())} frames where the reference is complete")
        pose2d, world, truth = camera_inputs(ref, view)
        lifted = lift(pose2d, ref.fps)
        outputs = {"lifter": lifted, "mediapipe_world": np.where(np.isfinite(world), world, lifted),
                   "fused": fuse_world(lifted, world, ref.fps, lifter_weight, tau_s)}
        for name in OUTPUTS:
            rows.append({"camera": cam.name, "output": name, "frames": int(counted.sum()),
                         **errors(outputs[name], truth, counted)})
    for name in OUTPUTS:
        group = [r for r in rows if r["output"] == name]
        rows.append({"camera": "mean", "output": name, "frames": sum(r["frames"] for r in group),
                     **{m: float(np.mean([r[m] for r in group])) for m in METRICS}})
    return rows


def engine_lift(weights=None, backend: str = "auto", lookahead: int = 0, flip: bool = False,
                threads: int | None = None) -> Lift:
    """The :data:`Lift` of a checkpoint through ``engines.runtime``, as ``tools/lift.py`` runs it."""
    from engines.lift import checkpoint_fps
    from engines.runtime import load_engine

    engine = load_engine(weights, backend=backend, lookahead=lookahead, threads=threads, flip=flip)
    model_fps = checkpoint_fps(weights)
    return lambda pose2d, fps: lift_sequence(engine, pose2d, fps, model_fps)


def evaluate_checkpoint(reference: str | Path, weights=None, backend: str = "torch", lookahead: int | str = 0,
                        flip: bool = False, threads: int | None = None) -> tuple[list[dict], str]:
    """(rows of :func:`evaluate_reference`, a title naming what ran) for a checkpoint on a
    reference file."""
    from engines.checkpoint import DEFAULT_WEIGHTS, read_checkpoint
    from engines.evaluate import resolve_lookahead

    config, _, _ = read_checkpoint(weights if weights is not None else DEFAULT_WEIGHTS)
    lookahead = resolve_lookahead(lookahead, config.num_frames)
    rows = evaluate_reference(engine_lift(weights, backend, lookahead, flip, threads), Reference.load(reference))
    title = (f"{reference}: weights {weights or 'shipped'}, backend {backend}, lookahead {lookahead}"
             f"{', flip' if flip else ''}")
    return rows, title


def write_report(rows: list[dict], out: str | Path, title: str) -> None:
    """``out`` as Markdown, with the rows as JSON and a bar chart (PNG) beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{title}\n\n{markdown_table(rows)}\n")
    out.with_suffix(".json").write_text(json.dumps({"title": title, "rows": rows}, indent=1))
    plot_rows(rows, out.with_suffix(".png"), title)


def markdown_table(rows: list[dict]) -> str:
    lines = ["| camera | output | frames | MPJPE | P-MPJPE | limbs P-MPJPE | accel |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['camera']} | {r['output']} | {r['frames']} | "
                     + " | ".join(f"{r[m]:.1f}" for m in METRICS) + " |")
    return "\n".join(lines)


def plot_rows(rows: list[dict], path, title: str = "") -> None:
    """Bar chart of P-MPJPE and acceleration error per camera and output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cameras = list(dict.fromkeys(r["camera"] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, metric, label in zip(axes, ("p_mpjpe", "p_mpjpe_limbs", "accel"),
                                 ("P-MPJPE (mm)", "limbs P-MPJPE (mm)", "accel error (mm/frame²)")):
        for k, name in enumerate(OUTPUTS):
            values = [next(r[metric] for r in rows if r["camera"] == c and r["output"] == name) for c in cameras]
            ax.bar(np.arange(len(cameras)) + (k - 1) * 0.27, values, 0.27, label=name)
        ax.set_xticks(np.arange(len(cameras)), cameras)
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
