"""Offline lifting (engines/lift.py, tools/lift.py): each frame the model on its own window, MediaPipe
input, the model's frame rate, backends, and clear errors for bad input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engines.checkpoint import save_checkpoint
from engines.models.hot import HoT, HoTConfig
from engines.lift import lift_file, read_pose2d, to_h36m
from engines.runtime import load_engine
from engines.skeleton import mediapipe_to_h36m, normalize_screen
from engines.windows import lift_sequence

ROOT = Path(__file__).resolve().parents[1]
T = 9
TPC = HoTConfig(num_frames=T, dim=16, depth=2, prune="tpc", keep_tokens=4, prune_layer=1, drop_path=0.0)
HOT = HoTConfig(num_frames=T, dim=16, depth=2, prune="tpc", keep_tokens=4, prune_layer=1, seq2seq=True,
                recover="tra", kept_pos_embed=True, drop_path=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_checkpoint(path: Path, config: HoTConfig, fps: float | None = None) -> HoT:
    torch.manual_seed(0)
    model = HoT(config).eval()
    with torch.no_grad():  # non-zero TRA queries, so the seq2seq frames differ
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_checkpoint(path, model, info={"fps": fps} if fps else {})
    return model


def sequence(n: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 17, 2)).astype(np.float32)


@pytest.mark.parametrize("config", [TPC, HOT], ids=["seq2frame", "seq2seq"])
@pytest.mark.parametrize("lookahead", [0, 3, T - 1])
def test_frame_i_is_the_model_on_its_own_padded_window(tmp_path, config, lookahead):
    model = make_checkpoint(tmp_path / "m.safetensors", config)
    engine = load_engine(tmp_path / "m.safetensors", backend="torch", lookahead=lookahead)
    seq = sequence(12)
    got = lift_sequence(engine, seq, batch_size=5)  # several batches, the last one short
    target = T - 1 - lookahead
    for i in (0, 1, 6, 11):
        window = np.stack([seq[min(max(i - target + k, 0), len(seq) - 1)] for k in range(T)])
        with torch.no_grad():
            out = model(torch.from_numpy(window)[None], torch.tensor([target]))[0]
        if config.seq2seq:
            out = out[target]
        np.testing.assert_allclose(got[i], (out - out[:1]).numpy(), atol=1e-5)
    assert np.all(got[:, 0] == 0)


def test_mediapipe_pixels_with_visibility_match_the_mapped_h36m_input(tmp_path):
    make_checkpoint(tmp_path / "m.safetensors", TPC)
    rng = np.random.default_rng(1)
    landmarks = np.concatenate([rng.uniform(0, 640, (15, 33, 2)), rng.uniform(0, 1, (15, 33, 1))], -1)
    np.save(tmp_path / "mp.npy", landmarks.astype(np.float32))
    h36m = normalize_screen(mediapipe_to_h36m(landmarks[..., :2]), 640, 480)
    np.save(tmp_path / "h36m.npy", h36m)
    for name in ("mp", "h36m"):
        size = {"width": 640, "height": 480} if name == "mp" else {}
        lift_file(tmp_path / f"{name}.npy", tmp_path / f"{name}.npz", tmp_path / "m.safetensors",
                  fps=50, backend="torch", progress=False, **size)
    with np.load(tmp_path / "mp.npz") as a, np.load(tmp_path / "h36m.npz") as b:
        assert a["pose3d"].shape == (15, 17, 3)
        np.testing.assert_allclose(a["pose3d"], b["pose3d"], atol=1e-5)


@pytest.mark.parametrize("fps", [25.0, 30.0, 50.0, 60.0])
def test_fps_resampling_keeps_the_input_frame_count(tmp_path, fps):
    make_checkpoint(tmp_path / "m.safetensors", TPC, fps=50)
    engine = load_engine(tmp_path / "m.safetensors", backend="torch")
    seq = sequence(23)
    out = lift_sequence(engine, seq, fps=fps, model_fps=50)
    assert out.shape == (23, 17, 3)
    if fps == 50:  # no resampling at the model's own rate
        np.testing.assert_allclose(out, lift_sequence(engine, seq), atol=1e-6)


def test_fps_is_read_from_the_checkpoint_and_resampling_reaches_the_model(tmp_path, monkeypatch):
    make_checkpoint(tmp_path / "m.safetensors", TPC, fps=25)
    np.save(tmp_path / "in.npy", sequence(40))
    seen = []
    monkeypatch.setattr("engines.windows.resample", lambda s, src, dst, num_frames=None: seen.append((src, dst)) or s)
    summary = lift_file(tmp_path / "in.npy", tmp_path / "out.npz", tmp_path / "m.safetensors", fps=30,
                        backend="torch", progress=False)
    assert summary["model_fps"] == 25 and seen == [(30, 25), (25, 30)]


def test_onnxruntime_backend_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    make_checkpoint(tmp_path / "m.safetensors", HOT)
    seq = sequence(30, seed=3)
    results = [lift_sequence(load_engine(tmp_path / "m.safetensors", backend=b, lookahead=2), seq)
               for b in ("torch", "onnxruntime-cpu")]
    np.testing.assert_allclose(results[0], results[1], atol=1e-4)


def test_npz_input_is_read_by_name_or_as_its_only_array(tmp_path):
    seq = sequence(5)
    np.savez(tmp_path / "named.npz", pose2d=seq, scores=np.ones((5, 17)))
    np.savez(tmp_path / "single.npz", keypoints=seq)
    np.testing.assert_array_equal(read_pose2d(tmp_path / "named.npz").points, seq)
    np.testing.assert_array_equal(read_pose2d(tmp_path / "single.npz").points, seq)
    np.savez(tmp_path / "two.npz", a=seq, b=seq)
    with pytest.raises(ValueError, match=r"npz holds \['a', 'b'\]"):
        read_pose2d(tmp_path / "two.npz")


@pytest.mark.parametrize("points, kwargs, message", [
    (np.zeros((5, 16, 2)), {}, r"shape \(N, 17, 2\).*got \(5, 16, 2\)"),
    (np.zeros((5, 33, 4)), {}, r"\(N, 33, 2\|3\)"),
    (np.zeros((0, 17, 2)), {}, "no frames"),
    (np.zeros((5, 17, 2)), {"width": 640}, "both --width and --height"),
    (np.zeros((5, 17, 2)), {"width": 640, "height": 0}, "must be positive"),
    (np.where(np.arange(5)[:, None, None] == 2, np.nan, np.zeros((5, 17, 2))), {}, "1 of 5 frames hold NaN"),
    (np.array([["a"] * 17] * 5), {}, "numeric"),
    (np.full((5, 17, 2), 320.0), {}, r"values reach 320, far outside normalised .*give --width and --height"),
])
def test_bad_input_is_a_clear_error(points, kwargs, message):
    with pytest.raises(ValueError, match=message):
        to_h36m(points, **kwargs)


def test_cli_writes_pose3d_and_reports_errors(tmp_path):
    make_checkpoint(tmp_path / "m.safetensors", TPC)
    np.save(tmp_path / "in.npy", sequence(11))
    cmd = [sys.executable, str(ROOT / "tools" / "lift.py"), str(tmp_path / "in.npy"), "--weights",
           str(tmp_path / "m.safetensors"), "--backend", "torch", "--lookahead", "4", "--fps", "50", "--output"]
    ok = subprocess.run(cmd + [str(tmp_path / "out.npz")], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    with np.load(tmp_path / "out.npz") as out:
        assert out["pose3d"].shape == (11, 17, 3) and int(out["lookahead"]) == 4
    bad = subprocess.run(cmd[:2] + [str(tmp_path / "missing.npy")] + cmd[3:] + [str(tmp_path / "x.npz")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "missing.npy: input file not found" in bad.stderr


def test_a_plain_array_needs_its_frame_rate(tmp_path):
    make_checkpoint(tmp_path / "m.safetensors", TPC)
    np.save(tmp_path / "in.npy", sequence(11))
    with pytest.raises(ValueError, match="in.npy does not say its frame rate; pass --fps"):
        lift_file(tmp_path / "in.npy", tmp_path / "out.npz", tmp_path / "m.safetensors", backend="torch",
                  progress=False)


def test_a_recording_is_lifted_at_its_rate_and_size_one_person_at_a_time(tmp_path):
    """Two people, 30 fps, 640x360 pixels: what the recording says is what is used."""
    from synthetic_motion import IMAGE_SIZE, two_people_recording

    two_people_recording(tmp_path / "session.npz", frames=(14, 12))
    make_checkpoint(tmp_path / "m.safetensors", TPC)
    summary = lift_file(tmp_path / "session.npz", tmp_path / "out.npz", tmp_path / "m.safetensors",
                        backend="torch", progress=False)
    engine = load_engine(tmp_path / "m.safetensors", backend="torch")
    pixels = np.load(tmp_path / "session.npz")["pose2d"]
    alone = [lift_sequence(engine, normalize_screen(pixels[rows], *IMAGE_SIZE), fps=30.0, model_fps=50.0)
             for rows in (slice(0, 14), slice(14, 26))]
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["pose3d"], np.concatenate(alone), atol=1e-5)
        assert float(out["fps"]) == 30.0 and out["person"].tolist() == [0] * 14 + [1] * 12
        assert out["seq"].tolist() == list(range(26))
        lifted = out["pose3d"]
    assert summary["people"] == 2

    # The live pipeline's recordings interleave the people frame by frame: the same poses come out.
    order = np.r_[np.arange(12)[:, None] + [0, 14], [[12, 13]]].reshape(-1)  # 0, 14, 1, 15, ..., 12, 13
    with np.load(tmp_path / "session.npz") as recording:
        rows = {k: recording[k][order] if recording[k].shape[:1] == (26,) and k != "pose_row" else recording[k]
                for k in recording.files}
    np.savez(tmp_path / "interleaved.npz", **rows)
    lift_file(tmp_path / "interleaved.npz", tmp_path / "out2.npz", tmp_path / "m.safetensors", backend="torch",
              progress=False)
    with np.load(tmp_path / "out2.npz") as out:
        np.testing.assert_allclose(out["pose3d"], lifted[order], atol=1e-5)


def test_world_landmarks_give_the_fused_output_and_the_lifters_beside_it(tmp_path):
    from engines.fusion import fuse_world, world_to_h36m

    make_checkpoint(tmp_path / "m.safetensors", TPC)
    np.save(tmp_path / "in.npy", sequence(11))
    world = np.random.default_rng(1).normal(0, 0.3, (11, 33, 3)).astype(np.float32)
    world[0] = np.nan  # a frame without world landmarks, before any: the lifter's pose
    np.save(tmp_path / "world.npy", world)
    common = dict(weights=tmp_path / "m.safetensors", backend="torch", fps=50.0, progress=False)
    lift_file(tmp_path / "in.npy", tmp_path / "plain.npz", **common)
    summary = lift_file(tmp_path / "in.npy", tmp_path / "fused.npz", world_path=tmp_path / "world.npy", **common)
    assert summary["fused"]
    with np.load(tmp_path / "plain.npz") as plain, np.load(tmp_path / "fused.npz") as fused:
        np.testing.assert_array_equal(plain["pose3d"], plain["pose3d_lifter"])
        np.testing.assert_array_equal(fused["pose3d_lifter"], plain["pose3d"])
        expected = fuse_world(plain["pose3d"], world_to_h36m(world), 50.0)
        np.testing.assert_allclose(fused["pose3d"], expected, atol=1e-6)
        np.testing.assert_array_equal(fused["pose3d"][0], plain["pose3d"][0])
        assert np.abs(fused["pose3d"] - plain["pose3d"]).max() > 0.01
    np.save(tmp_path / "short.npy", world[:5])
    with pytest.raises(ValueError, match=r"must have shape \(11, 33, 3\)"):
        lift_file(tmp_path / "in.npy", tmp_path / "x.npz", world_path=tmp_path / "short.npy", **common)
