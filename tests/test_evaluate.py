"""Sliding-window evaluation: padding like the live ring buffer, fixed cameras, real engines."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engines import evaluate
from engines.checkpoint import save_checkpoint
from engines.models.hot import HoT
from engines.models import get_preset
from engines.runtime import load_engine
from engines.windows import lift_sequence
from test_data_synth import walking_clip


def test_lookahead_is_a_number_or_the_centre():
    assert evaluate.resolve_lookahead("centre", 81) == 40 and evaluate.resolve_lookahead("5", 81) == 5
    with pytest.raises(ValueError, match="lookahead"):
        evaluate.resolve_lookahead("81", 81)


def test_segments_are_evenly_spaced_contiguous_runs():
    runs = evaluate.segment_frames(100, (3, 10))
    assert [r[0] for r in runs] == [0, 45, 90] and all(np.diff(r).tolist() == [1] * 9 for r in runs)
    assert evaluate.segment_frames(20, (3, 10))[0].tolist() == list(range(20))  # short: whole sequence


def test_a_perfect_lifter_scores_zero_and_cameras_are_fixed_per_clip():
    clip = walking_clip(seconds=1.0, name="eval")
    pose2d, truth = evaluate.mocap_sequence(clip, seed=3, noisy=False)
    again, _ = evaluate.mocap_sequence(clip, seed=3, noisy=False)
    noisy, noisy_truth = evaluate.mocap_sequence(clip, seed=3, noisy=True)
    np.testing.assert_array_equal(pose2d, again)
    np.testing.assert_array_equal(truth, noisy_truth)  # same camera, only the 2D differs
    assert 0 < np.abs(noisy - pose2d).mean() < 0.1
    lookup = {pose2d[i].tobytes(): truth[i] for i in range(len(pose2d))}
    oracle = SimpleNamespace(window=9, lookahead=0, run=lambda windows: np.stack([lookup[w[-1].tobytes()] for w in windows]))
    pred = lift_sequence(oracle, pose2d, batch_size=7)
    errors = evaluate.sequence_errors(pred, truth)
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in errors.values())
    assert evaluate.sequence_errors(pred + [0.01, 0, 0], truth)["mpjpe"] == pytest.approx(10.0, rel=1e-4)


def test_evaluate_mocap_with_a_real_engine(tmp_path):
    torch.manual_seed(0)
    config = get_preset("live-cpu", num_frames=9, dim=32, depth=2, num_heads=4, keep_tokens=3)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, HoT(config), {"holdout": ["synthetic__eval"]})
    engines = [load_engine(path, "torch", la) for la in (0, 4)]
    clips = [walking_clip(seconds=0.6, name="eval")]
    rows = evaluate.evaluate_mocap(engines, clips, seed=0)
    assert [(r["noise"], r["lookahead"]) for r in rows] == [("none", 0), ("none", 4), ("detector", 0), ("detector", 4)]
    assert all(r["frames"] == 30 and r["mpjpe"] > 0 and r["p_mpjpe"] <= r["mpjpe"] for r in rows)
    summary = evaluate.summarize(rows + rows)
    assert len(summary) == 4 and summary[0]["frames"] == 60
    table = evaluate.markdown_table(summary)
    assert table.count("\n") == 5 and "| ALL | detector | 0 |" in table
