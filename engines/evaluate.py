"""Evaluate a lifter the way the live pipeline runs it: sliding windows over whole sequences.

Each sequence is lifted frame by frame at a fixed lookahead, with windows padded at both ends by
repeating the first and last pose (as ``stream/ring.py`` does). Sources:

* held-out mocap clips, projected through one fixed virtual camera per clip (seeded by the clip
  name, so every checkpoint sees the same views), once clean and once with the detector noise
  model of :mod:`engines.data.synth`;
* Human3.6M test subjects S9 and S11 from VideoPose3D's npz files (protocols 1 and 2 per action).

Any engine works: an object with ``window``, ``lookahead`` and ``run(windows (B, T, 17, 2)) ->
(B, 17, 3)``, usually ``engines.runtime.load_engine(weights, backend, lookahead)``; sequences go
through it with :func:`engines.windows.lift_sequence`.
"""
from __future__ import annotations

import csv
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engines import metrics
from engines.data import synth
from engines.windows import lift_sequence, resample

METRICS = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "accel")
NOISE_MODES = {"none": (False,), "detector": (True,), "both": (False, True)}  # clean and/or noisy 2D


def segment_frames(length: int, segments: tuple[int, int] | None) -> list[np.ndarray]:
    """Frames to evaluate: the whole sequence, or ``(count, frames)`` evenly spaced contiguous
    segments (cheaper on slow machines; velocities and accelerations stay within a segment)."""
    if segments is None or segments[0] * segments[1] >= length:
        return [np.arange(length)]
    count, size = segments
    starts = np.linspace(0, length - size, count).round().astype(int)
    return [np.arange(s, s + size) for s in starts]


def weighted_errors(parts: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """:func:`sequence_errors` over several (pred, truth) segments, weighted by their frames."""
    frames = np.array([len(p) for p, _ in parts], dtype=np.float64)
    errors = [sequence_errors(p, t) for p, t in parts]
    return {m: float(np.dot(frames, [e[m] for e in errors]) / frames.sum()) for m in METRICS}


def sequence_errors(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """All metrics in millimetres for one sequence of root-relative poses (N, 17, 3)."""
    return {"mpjpe": 1000 * metrics.mpjpe(pred, truth), "p_mpjpe": 1000 * metrics.p_mpjpe(pred, truth),
            "n_mpjpe": 1000 * metrics.n_mpjpe(pred, truth), "mpjve": 1000 * metrics.mpjve(pred, truth),
            "accel": 1000 * metrics.acceleration_error(pred, truth)}


def mocap_sequence(clip, seed: int, noisy: bool) -> tuple[np.ndarray, np.ndarray]:
    """(normalised 2D (N, 17, 2), root-relative camera 3D (N, 17, 3)) of a whole clip seen by one
    static virtual camera. The camera depends on (seed, clip name) only, noisy or not."""
    world = synth.center_on_floor(synth.mediapipe_definitions(
        resample(synth.mediapipe_heads(clip.positions), clip.fps, synth.FPS).astype(np.float32)[None]))
    name_key = zlib.crc32(clip.name.encode())
    cams = synth.sample_cameras(np.random.default_rng([seed, name_key]), world)
    noise_rng = np.random.default_rng([seed, name_key, 1])
    pose2d, target3d = synth.to_pairs(world, cams, noise_rng, synth.DetectorNoise() if noisy else None)
    return pose2d[0], target3d[0]


def resolve_lookahead(value: int | str, num_frames: int) -> int:
    """An integer lookahead, or ``"centre"`` for the paper's centre frame."""
    if value in ("centre", "center"):
        return (num_frames - 1) // 2
    try:
        lookahead = int(value)
    except ValueError:
        raise ValueError(f"lookahead must be an integer or 'centre', got {value!r}") from None
    if not 0 <= lookahead < num_frames:
        raise ValueError(f"lookahead {lookahead} must be in [0, {num_frames - 1}]")
    return lookahead


def evaluate_mocap(engines: Sequence, clips: Sequence, seed: int = 0,
                   noise_modes: Iterable[bool] = (False, True),
                   segments: tuple[int, int] | None = None) -> list[dict]:
    """One row per (clip, noise mode, engine) with every metric in mm; each engine runs at its own
    lookahead; ``segments`` limits the frames (:func:`segment_frames`)."""
    rows = []
    jobs = [(clip, noisy, engine) for clip in clips for noisy in noise_modes for engine in engines]
    for clip, noisy, engine in tqdm(jobs, desc="mocap clips", leave=False):
        pose2d, truth = mocap_sequence(clip, seed, noisy)
        parts = [(lift_sequence(engine, pose2d, frames=frames), truth[frames])
                 for frames in segment_frames(len(pose2d), segments)]
        rows.append({"sequence": clip.name, "noise": "detector" if noisy else "none", "lookahead": engine.lookahead,
                     "frames": sum(len(p) for p, _ in parts), **weighted_errors(parts)})
    return rows


def evaluate_h36m(engines: Sequence, sequences: Iterable) -> list[dict]:
    """One row per (action, lookahead): the metrics averaged over the action's subjects and
    cameras, weighted by frames, as in VideoPose3D's protocol-1/2 tables."""
    sums: dict[tuple[str, int], dict] = defaultdict(lambda: defaultdict(float))
    for seq in tqdm(list(sequences), desc="Human3.6M", leave=False):
        action = seq.action.split(" ")[0]  # "Walking 1" and "Walking" are one action
        for engine in engines:
            pred = lift_sequence(engine, seq.pose2d)
            acc = sums[(action, engine.lookahead)]
            for name, value in sequence_errors(pred, seq.target3d).items():
                acc[name] += value * len(pred)
            acc["frames"] += len(pred)
    return [{"sequence": action, "noise": "detector 2D", "lookahead": lookahead, "frames": int(acc["frames"]),
             **{m: acc[m] / acc["frames"] for m in METRICS}}
            for (action, lookahead), acc in sorted(sums.items())]


def evaluate_checkpoint(weights=None, backend: str = "torch", lookaheads: Sequence[int | str] = (0, 5, "centre"),
                        flip: bool = False, threads: int | None = None, data: str | Path = "data/mocap",
                        clips: Sequence[str] | None = None, noise: str = "both", seed: int = 0,
                        segments: tuple[int, int] | None = None, figure: str | Path | None = None,
                        h36m_3d: str | Path | None = None, h36m_2d: str | Path | None = None) -> list[dict]:
    """Rows of :func:`evaluate_mocap` on the checkpoint's held-out clips (or the ``clips`` glob
    patterns) and, given both VideoPose3D files, of :func:`evaluate_h36m`; ``figure`` draws the
    first clip's predicted and true skeletons (noisy 2D, the first lookahead)."""
    from engines.checkpoint import DEFAULT_WEIGHTS, read_checkpoint
    from engines.runtime import load_engine

    weights = weights if weights is not None else DEFAULT_WEIGHTS
    config, _, info = read_checkpoint(weights)
    resolved = sorted({resolve_lookahead(v, config.num_frames) for v in lookaheads})
    engines = [load_engine(weights, backend, la, threads=threads, flip=flip) for la in resolved]
    if (h36m_3d is None) != (h36m_2d is None):
        raise ValueError("Human3.6M needs both --h36m-3d and --h36m-2d")
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}")
    rows = []
    if clips is not None or info.get("holdout") or h36m_3d is None:
        from engines.data.mocap import load_cache, split_holdout

        patterns = clips if clips is not None else info.get("holdout", [])
        if not patterns:
            raise ValueError("the checkpoint names no held-out clips; pass --clips")
        _, held_out = split_holdout(load_cache(data), patterns)
        rows += evaluate_mocap(engines, held_out, seed, NOISE_MODES[noise], segments)
        if figure:
            pose2d, truth = mocap_sequence(held_out[0], seed, noisy=True)
            shown = np.concatenate(segment_frames(len(pose2d), (4, 1)))
            pred = lift_sequence(engines[0], pose2d, frames=shown)
            plot_skeletons(pred, truth[shown], [f"frame {f}" for f in shown], figure,
                           f"{held_out[0].name} (held out), noisy 2D, lookahead {resolved[0]}")
    if h36m_3d is not None:
        from engines.data import h36m

        rows += evaluate_h36m(engines, h36m.sequences(h36m.load_poses_3d(h36m_3d), h36m.load_keypoints_2d(h36m_2d)))
    return rows


def write_tables(rows: list[dict], out: str | Path, title: str) -> str:
    """The rows and their summary as a Markdown table, written to ``out`` (with a .csv of the
    rows beside it); returns the table."""
    table = markdown_table(rows + summarize(rows))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{title}\n\n{table}\n")
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return table


def summarize(rows: list[dict]) -> list[dict]:
    """Frame-weighted means over sequences, per (noise mode, lookahead)."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["noise"], row["lookahead"])].append(row)
    out = []
    for (noise, lookahead), group in sorted(groups.items()):
        frames = np.array([r["frames"] for r in group], dtype=np.float64)
        out.append({"sequence": "ALL", "noise": noise, "lookahead": lookahead, "frames": int(frames.sum()),
                    **{m: float(np.dot(frames, [r[m] for r in group]) / frames.sum()) for m in METRICS}})
    return out


def markdown_table(rows: list[dict]) -> str:
    """Rows as a Markdown table (millimetres)."""
    header = "| sequence | 2D noise | lookahead | frames | MPJPE | P-MPJPE | N-MPJPE | MPJVE | accel |"
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['sequence']} | {r['noise']} | {r['lookahead']} | {r['frames']} | "
                     + " | ".join(f"{r[m]:.1f}" for m in METRICS) + " |")
    return "\n".join(lines)


def plot_skeletons(pred: np.ndarray, truth: np.ndarray, labels: Sequence[str], path, title: str = "") -> None:
    """PNG of predicted (red) over true (black) poses (K, 17, 3), camera coordinates drawn upright."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engines.skeleton import BONES

    fig = plt.figure(figsize=(3.2 * len(labels), 3.6))
    for k, name in enumerate(labels):
        ax = fig.add_subplot(1, len(labels), k + 1, projection="3d")
        for pose, colour, label in ((truth[k], "black", "true"), (pred[k], "tab:red", "predicted")):
            for n, (a, b) in enumerate(BONES):  # camera x right, z forward, -y up
                ax.plot([pose[a, 0], pose[b, 0]], [pose[a, 2], pose[b, 2]], [-pose[a, 1], -pose[b, 1]],
                        color=colour, lw=2, label=label if n == 0 else None)
        ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticklabels=[], yticklabels=[], zticklabels=[])
        ax.view_init(elev=10, azim=-80)
        error = 1000 * np.linalg.norm(pred[k] - truth[k], axis=-1).mean()
        ax.set_title(f"{name}: {error:.0f} mm", fontsize=9)
        if k == 0:
            ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
