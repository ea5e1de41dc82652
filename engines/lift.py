"""Offline lifting of a whole 2D pose sequence to 3D, one output frame per input frame.

Every frame is lifted by the window whose target it is, at the rate the model was trained at
(the checkpoint's ``fps`` info, 50 by default); windowing and resampling are
:mod:`engines.windows`. Seq2seq checkpoints work the same way: the engine keeps only the target
frame of their output. The input's rate is never guessed: a stream recording
(docs/recording.md) says it, and so do its image size and who each pose is; a plain array needs
them given. A recording is lifted one person at a time (their rows may be interleaved), so no window mixes
two people.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.checkpoint import DEFAULT_WEIGHTS, read_checkpoint
from engines.skeleton import NUM_JOINTS, NUM_MEDIAPIPE_LANDMARKS, mediapipe_to_h36m, normalize_screen
from engines.stream_rows import rows_of_stream
from engines.windows import DEFAULT_FPS, lift_sequence

RECORDING_FORMAT = "hotstream-recording"  # docs/recording.md; its stacked arrays need no stream code
NORMALISED_LIMIT = 4.0  # normalised coordinates lie within about +-1 (+-h/w in y): beyond this, pixels


@dataclass
class Pose2DInput:
    """A 2D sequence and what its file says about it (None: not said)."""

    points: np.ndarray                      # (N, 17, 2) or (N, 33, 2|3)
    fps: float | None = None
    image_size: tuple[float, float] | None = None
    person: np.ndarray | None = None        # (N,) who each pose is
    seq: np.ndarray | None = None           # (N,) index of each pose's frame in its source


def read_pose2d(path: str | Path, stream_id: str | None = None) -> Pose2DInput:
    """The 2D array of a ``.npy`` file, of a ``.npz`` with one array (or one named ``pose2d``), or
    of a stream recording, with its frame rate, image size, persons and frame indices."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: input file not found")
    if path.suffix not in (".npy", ".npz"):
        raise ValueError(f"{path}: expected a .npy or .npz array, got {path.suffix or 'no extension'}")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path}: not a plain numeric array file ({e})") from None
    if isinstance(data, np.ndarray):
        return Pose2DInput(data)
    with data:
        names = list(data.keys())
        if "format" in names and str(data["format"]) == RECORDING_FORMAT:
            return _recording_pose2d(path, {name: data[name] for name in names}, stream_id)
        if "pose2d" in names:
            return Pose2DInput(data["pose2d"], float(data["fps"]) if "fps" in names else None)
        if len(names) != 1:
            raise ValueError(f"{path}: npz holds {names}; expected one array or one named 'pose2d'")
        return Pose2DInput(data[names[0]])


def _recording_pose2d(path: Path, data: dict[str, np.ndarray], stream_id: str | None) -> Pose2DInput:
    rows = rows_of_stream(path, data["stream_id"], stream_id)
    image_size = None
    if "image_size" in data:
        sizes = np.unique(data["image_size"][rows], axis=0)
        if len(sizes) > 1:
            raise ValueError(f"{path}: the image size changes within the stream ({sizes.tolist()}); lift each part alone")
        image_size = tuple(float(v) for v in sizes[0])
    return Pose2DInput(data["pose2d"][rows], float(np.median(data["fps"][rows])), image_size,
                       data["person"][rows] if "person" in data else None, data["seq"][rows])


def to_h36m(points: np.ndarray, width: float | None = None, height: float | None = None) -> np.ndarray:
    """(N, 17, 2) H36M or (N, 33, 2|3) MediaPipe points -> (N, 17, 2) normalised screen coordinates.

    A third MediaPipe channel is visibility and is dropped. Points are pixels when ``width`` and
    ``height`` are given, already normalised otherwise.
    """
    points = np.asarray(points)
    if not np.issubdtype(points.dtype, np.number):
        raise ValueError(f"input must be numeric, got dtype {points.dtype}")
    if points.ndim != 3 or (points.shape[1:] != (NUM_JOINTS, 2)
                            and not (points.shape[1] == NUM_MEDIAPIPE_LANDMARKS and points.shape[2] in (2, 3))):
        raise ValueError(f"input must have shape (N, 17, 2) (Human3.6M) or (N, 33, 2|3) (MediaPipe), "
                         f"got {points.shape}")
    if len(points) == 0:
        raise ValueError("input has no frames")
    if (width is None) != (height is None):
        raise ValueError("give both --width and --height (pixel input) or neither (normalised input)")
    if width is not None and (width <= 0 or height <= 0):
        raise ValueError(f"image size must be positive, got {width}x{height}")
    points = points.astype(np.float32)
    if points.shape[1] == NUM_MEDIAPIPE_LANDMARKS:
        points = mediapipe_to_h36m(points[..., :2])
    bad = ~np.isfinite(points).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} of {len(points)} frames hold NaN or inf (first: frame "
                         f"{int(np.argmax(bad))}); fill or drop them before lifting")
    if width is None and (largest := float(np.abs(points).max())) > NORMALISED_LIMIT:
        raise ValueError(f"values reach {largest:g}, far outside normalised coordinates (about -1 to 1): "
                         "pixels? give --width and --height")
    return normalize_screen(points, width, height) if width is not None else points


def checkpoint_fps(weights: str | Path | None) -> float:
    """The frame rate a checkpoint was trained at (its ``fps`` info), else 50."""
    _, _, info = read_checkpoint(weights if weights is not None else DEFAULT_WEIGHTS)
    return float(info.get("fps", DEFAULT_FPS))


def read_world(path: str | Path, frames: int) -> np.ndarray:
    """MediaPipe world landmarks (N, 33, 3) in metres from a ``.npy``, for ``frames`` frames."""
    world = np.asarray(read_pose2d(path).points, dtype=np.float32)
    if world.shape != (frames, NUM_MEDIAPIPE_LANDMARKS, 3):
        raise ValueError(f"{path}: world landmarks must have shape ({frames}, 33, 3) to match the 2D input, "
                         f"got {world.shape}")
    return world


def lift_file(input_path: str | Path, output_path: str | Path, weights: str | Path | None = None,
              lookahead: int = 0, width: float | None = None, height: float | None = None,
              fps: float | None = None, backend: str = "auto", batch_size: int = 256,
              progress: bool = True, stream_id: str | None = None, world_path: str | Path | None = None,
              flip: bool = False) -> dict:
    """Lift a 2D array file or a recording and write ``pose3d`` (N, 17, 3) to an ``.npz``
    (with ``seq`` and ``person`` for a recording); returns a summary.

    ``fps``, ``width`` and ``height`` override what the input says; the rate must come from one
    or the other. Each person's poses are lifted on their own. With ``world_path``
    (MediaPipe's world landmarks of the same frames) ``pose3d`` is the fused output the live
    pipeline publishes; ``pose3d_lifter`` is always the lifter's alone.
    """
    from engines.fusion import fuse_world, world_to_h36m
    from engines.runtime import load_engine

    given = read_pose2d(input_path, stream_id)
    fps = fps if fps is not None else given.fps
    if fps is None:
        raise ValueError(f"{input_path} does not say its frame rate; pass --fps")
    if width is None and height is None and given.image_size is not None:
        width, height = given.image_size
    pose2d = to_h36m(given.points, width, height)
    world = read_world(world_path, len(pose2d)) if world_path is not None else None
    model_fps = checkpoint_fps(weights)
    engine = load_engine(weights, backend=backend, lookahead=lookahead, flip=flip)
    person = given.person if given.person is not None else np.zeros(len(pose2d), np.int64)
    rate = None if fps == model_fps else fps
    lifted = np.empty(pose2d.shape[:-1] + (3,), np.float32)
    pose3d = lifted if world is None else np.empty_like(lifted)
    people = np.unique(person)
    for who in people:  # a recording of several people interleaves their rows
        rows = np.flatnonzero(person == who)
        lifted[rows] = lift_sequence(engine, pose2d[rows], rate, model_fps, batch_size=batch_size, progress=progress)
        if world is not None:
            pose3d[rows] = fuse_world(lifted[rows], world_to_h36m(world[rows]), fps)
    described = engine.describe()
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    known = {name: value for name, value in (("seq", given.seq), ("person", given.person)) if value is not None}
    np.savez(output_path, pose3d=pose3d, pose3d_lifter=lifted, fps=np.float32(fps), lookahead=np.int64(lookahead),
             model_fps=np.float32(model_fps), backend=described["backend"],
             weights_sha256=described["weights_sha256"] or "", **known)
    return {"frames": len(pose3d), "output": str(output_path), "backend": described["backend"],
            "window": engine.window, "lookahead": lookahead, "model_fps": model_fps, "fps": fps,
            "resampled": fps != model_fps, "people": len(people), "fused": world is not None}
