"""Windows and resampling (engines/windows.py): edge padding, target indexing, frame subsets,
linear interpolation in time."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engines.windows import lift_sequence, resample, resample_times, target_windows


def ramp(n: int) -> np.ndarray:
    """Frame i holds the value i everywhere."""
    return np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 17, 2), np.float32)


def test_windows_put_frame_i_at_the_target_index_with_edge_padding():
    windows = target_windows(ramp(6), window=5, lookahead=1)  # target index 3: 3 frames back, 1 ahead
    assert windows.shape == (6, 5, 17, 2)
    assert windows[:, :, 0, 0].tolist() == [[0, 0, 0, 0, 1], [0, 0, 0, 1, 2], [0, 0, 1, 2, 3],
                                            [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [2, 3, 4, 5, 5]]
    full = target_windows(ramp(6), window=4)[3:]  # causal, without padding: what the live ring holds
    assert full[:, :, 0, 0].tolist() == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]
    with pytest.raises(ValueError, match="lookahead"):
        target_windows(ramp(6), window=4, lookahead=4)


def test_lift_sequence_gives_each_frame_its_own_window_root_relative():
    seen = []

    def run(windows):
        seen.append(len(windows))
        out = np.repeat(windows[:, -2, :, :1], 3, axis=-1)  # the target frame's x, lookahead 1
        return out + 5.0  # an offset the root subtraction removes

    engine = SimpleNamespace(window=4, lookahead=1, run=run)
    seq = ramp(10) + np.arange(17, dtype=np.float32)[None, :, None]
    out = lift_sequence(engine, seq, batch_size=4)
    assert seen == [4, 4, 2] and out.shape == (10, 17, 3)
    np.testing.assert_allclose(out[:, :, 0], np.arange(17)[None].repeat(10, 0))
    subset = lift_sequence(engine, seq, frames=np.array([0, 9]))
    np.testing.assert_array_equal(subset, out[[0, 9]])
    with pytest.raises(ValueError, match="model's rate"):
        lift_sequence(engine, seq, fps=30.0, frames=np.array([0]))


def test_resample_is_linear_interpolation_over_the_same_duration():
    line = np.arange(31, dtype=np.float32)[:, None] * [1.0, -2.0]  # 1 s at 30 fps
    up = resample(line.astype(np.float32), 30, 50)
    assert up.shape == (51, 2) and up.dtype == np.float32
    np.testing.assert_allclose(up[:, 0], np.arange(51) * 30 / 50, atol=1e-5)
    np.testing.assert_allclose(resample(up, 50, 30, num_frames=31), line, atol=1e-4)
    held = resample(line[:2], 30, 60, num_frames=6)  # past the last input frame: held
    np.testing.assert_allclose(held[:, 0], [0, 0.5, 1, 1, 1, 1])


def test_resample_reproduces_linear_motion_exactly():
    t = np.arange(121) / 120.0  # 1 s at 120 Hz
    track = np.stack([2 * t + 1, -t, 3 * t], -1)[:, None, :]
    out = resample(track, 120.0, 50.0)
    assert out.shape == (51, 1, 3)
    expected_t = np.arange(51) / 50.0
    np.testing.assert_allclose(out[:, 0, 0], 2 * expected_t + 1, atol=1e-12)
    np.testing.assert_allclose(out[:, 0, 2], 3 * expected_t, atol=1e-12)


def test_resample_irregular_times_interpolates_between_neighbours():
    times = np.array([0.0, 0.01, 0.05, 0.1])
    values = times ** 2
    out = resample_times(values, times, 50.0)  # samples at 0, .02, .04, .06, .08, .1
    assert out.shape == (6,)
    # 0.02 lies a quarter of the way from 0.01 (1e-4) to 0.05 (25e-4).
    assert out[1] == pytest.approx(1e-4 + 0.25 * 24e-4)
    assert out[5] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="increasing"):
        resample_times(values, times[::-1], 50.0)
