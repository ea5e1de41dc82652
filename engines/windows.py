"""Windows over a pose sequence, the lifting of a whole sequence through them, and resampling.

The one home of windowing (as VideoPose3D's ``generators.py`` is): the live ring
(``stream/ring.py``) is its streaming counterpart, and everything offline (``tools/lift.py``,
evaluation, export checks, the benchmark, the GPU check) cuts its windows here.

Window ``i`` has frame ``i`` at index ``window - 1 - lookahead``: it holds the frames before it
and ``lookahead`` frames after it. At the ends of the sequence the missing frames repeat the first
or last pose (edge padding, as in the HoT authors' demo and VideoPose3D), so every frame gets a
window. ``windows[window - 1:]`` at ``lookahead=0`` are the windows without padding: what the live
ring holds once it is full.

The model sees frames at the rate it was trained at: an input at another rate is resampled to it
by linear interpolation in time, and the 3D output is resampled back to the input's frames.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

DEFAULT_FPS = 50.0  # the rate of a checkpoint that does not say its own


def target_windows(sequence: np.ndarray, window: int, lookahead: int = 0) -> np.ndarray:
    """(N, J, D) -> (N, window, J, D): a read-only strided view into the edge-padded sequence
    (no copy per window); index it, or ``np.ascontiguousarray`` it, to get an array to feed."""
    if not 0 <= lookahead < window:
        raise ValueError(f"lookahead {lookahead} must be in [0, {window - 1}]")
    padded = np.pad(sequence, ((window - 1 - lookahead, lookahead), (0, 0), (0, 0)), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, window, axis=0).transpose(0, 3, 1, 2)


def lift_sequence(engine, pose2d: np.ndarray, fps: float | None = None, model_fps: float = DEFAULT_FPS,
                  frames: np.ndarray | None = None, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """(N, 17, 2) normalised 2D -> (N, 17, 3) metres, root-relative, through ``engine`` (anything
    with ``window``, ``lookahead`` and ``run(windows)``, see ``engines.runtime``).

    ``fps`` is the input's frame rate; None means it already is ``model_fps``. ``frames`` (at the
    model's rate only) lifts just those frames and returns ``(len(frames), 17, 3)``.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if frames is not None and fps is not None:
        raise ValueError("frames= selects frames at the model's rate; resample first")
    n = len(pose2d)
    at_model_rate = resample(pose2d, fps, model_fps) if fps is not None else pose2d
    windows = target_windows(at_model_rate, engine.window, engine.lookahead)
    chosen = np.arange(len(windows)) if frames is None else np.asarray(frames)
    out = np.empty((len(chosen), pose2d.shape[1], 3), dtype=np.float32)
    for start in tqdm(range(0, len(chosen), batch_size), desc="lifting", unit="batch", disable=not progress):
        index = chosen[start:start + batch_size]
        out[start:start + len(index)] = engine.run(windows[index])
    if fps is not None:
        out = resample(out, model_fps, fps, num_frames=n)
    return out - out[:, :1]  # exactly root-relative: the pelvis at the origin


# --- resampling ------------------------------------------------------------------------------------

def sample_times(times: np.ndarray, fps: float) -> np.ndarray:
    """Times every ``1 / fps`` s from ``times[0]``, never past ``times[-1]``."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError(f"need at least 2 strictly increasing frame times, got {len(times)} frames")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    # A small tolerance keeps the last frame when the duration is a whole number of periods.
    count = int(np.floor((times[-1] - times[0]) * fps + 1e-6)) + 1
    return times[0] + np.arange(count) / fps


def interpolate(values: np.ndarray, times: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """``values`` (T, ...) taken at increasing ``times`` (s), linearly interpolated at ``new_times``
    (held at the ends), in float64."""
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if len(times) != len(values):
        raise ValueError(f"{len(values)} frames but {len(times)} frame times")
    if len(times) == 1:
        return np.repeat(values, len(new_times), axis=0)
    upper = np.clip(np.searchsorted(times, new_times, side="right"), 1, len(times) - 1)
    lower = upper - 1
    weight = np.clip((new_times - times[lower]) / (times[upper] - times[lower]), 0.0, 1.0)
    weight = weight.reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - weight) * values[lower] + weight * values[upper]


def resample_times(values: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """Sample ``values`` (T, ...) taken at increasing ``times`` (s) every ``1 / fps`` s."""
    return interpolate(values, times, sample_times(times, fps))


def resample(sequence: np.ndarray, src_fps: float, dst_fps: float, num_frames: int | None = None) -> np.ndarray:
    """(N, ...) frames at a constant ``src_fps`` -> the same span at ``dst_fps``, in the input's
    dtype: as many frames as fit, or ``num_frames`` (frames past the last input frame hold it)."""
    if not (src_fps > 0 and dst_fps > 0):
        raise ValueError(f"frame rates must be positive, got {src_fps} and {dst_fps}")
    sequence = np.asarray(sequence)
    times = np.arange(len(sequence)) / src_fps
    if num_frames is None:
        new_times = sample_times(times, dst_fps) if len(sequence) > 1 else times
    else:
        new_times = np.arange(num_frames) / dst_fps
    return interpolate(sequence, times, new_times).astype(sequence.dtype, copy=False)
