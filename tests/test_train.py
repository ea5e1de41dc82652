"""Training on procedural walkers with a tiny model: loss goes down, resume, single-process DDP."""
from __future__ import annotations

import csv
import json
import socket

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engines.checkpoint import load_model
from engines.data import synth
from engines.data.mocap import split_holdout
from engines.train import TrainConfig, train
from test_data_synth import walking_clip

TINY = {"num_frames": 9, "dim": 32, "depth": 2, "num_heads": 4, "keep_tokens": 3, "prune_layer": 1}


@pytest.fixture(scope="module")
def clips():
    return [walking_clip(seed=i, name=f"walk{i}") for i in range(4)]


def _config(out, **kw) -> TrainConfig:
    return TrainConfig(out=str(out), overrides=TINY, steps_per_epoch=10, batch_size=16, val_windows=32,
                       threads=1, warmup_steps=5, **kw)


def _rows(out) -> list[dict]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_training_lowers_the_loss_and_writes_a_run(tmp_path, clips):
    final = train(_config(tmp_path, steps=80, lr=2e-3), clips[:3], clips[3:])
    rows = _rows(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(10, 81, 10))
    assert float(rows[-1]["loss"]) < 0.7 * float(rows[0]["loss"])
    assert float(rows[-1]["val_mpjpe_mm"]) < float(rows[0]["val_mpjpe_mm"])
    model, info = load_model(final)
    assert model.config.num_frames == 9 and info["steps"] == 80 and info["holdout"] == ["synthetic__walk3"]
    assert info["fps"] == 50 and info["train"]["seed"] == 0
    for name in ("curves.png", "optimizer.pt", "state.json", "last.safetensors"):
        assert (tmp_path / name).stat().st_size > 0
    assert any((tmp_path / "tb").iterdir())


def test_resume_continues_where_the_run_stopped(tmp_path, clips):
    train(_config(tmp_path, steps=20), clips[:3])
    first = load_file(tmp_path / "last.safetensors")
    resumed = train(_config(tmp_path, steps=40, resume=True), clips[:3])
    assert json.loads((tmp_path / "state.json").read_text())["step"] == 40
    assert [int(r["step"]) for r in _rows(tmp_path)] == [10, 20, 30, 40]
    optimizer = torch.load(tmp_path / "optimizer.pt", weights_only=True)
    assert optimizer["state"][0]["step"].item() == 40  # Adam's moments carried over, not restarted
    after = load_file(resumed)
    assert any(not torch.equal(first[k], after[k]) for k in first)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_config(tmp_path / "empty", steps=10, resume=True), clips[:3])


def test_single_process_ddp_matches_plain_training(tmp_path, clips, monkeypatch):
    plain = load_file(train(_config(tmp_path / "plain", steps=10), clips[:3]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(key, value)
    ddp = load_file(train(_config(tmp_path / "ddp", steps=10), clips[:3]))
    assert not torch.distributed.is_initialized()  # train() closes the group it started
    for key in plain:
        torch.testing.assert_close(ddp[key], plain[key])


def test_recipe_overrides_reach_the_training_data(tmp_path, clips, monkeypatch):
    """``--set cameras.<field>`` and ``noise.<field>`` change the pairs trained on, not only the log."""
    seen = []
    real_make_pairs = synth.make_pairs
    monkeypatch.setattr(synth, "make_pairs", lambda *a, **kw: seen.append(kw) or real_make_pairs(*a, **kw))
    cfg = _config(tmp_path, steps=10, cameras={"hfov_deg": [30, 40]}, noise={"swap_body_prob": 0})
    _, info = load_model(train(cfg, clips[:3], clips[3:]))
    trained = [kw for kw in seen if "cameras" in kw]  # the validation batch takes the defaults
    assert trained and all(kw["cameras"].hfov_deg == (30, 40) and kw["noise"].swap_body_prob == 0 for kw in trained)
    assert info["train"]["cameras"] == {"hfov_deg": [30, 40]}
    with pytest.raises(ValueError, match="fov"):
        train(_config(tmp_path / "bad", steps=10, cameras={"fov": 40}), clips[:3], clips[3:])


def test_holdout_patterns_split_whole_clips(clips):
    train_clips, held = split_holdout(clips, ["*walk1", "synthetic__walk3"])
    assert [c.name for c in held] == ["synthetic__walk1", "synthetic__walk3"]
    assert len(train_clips) == 2
    with pytest.raises(ValueError, match="match no clip"):
        split_holdout(clips, ["*squat*"])


def test_per_frame_and_unpruned_variants_train(tmp_path, clips):
    per_frame = TrainConfig(out=str(tmp_path / "t1"), overrides={**TINY, "num_frames": 1, "prune": None},
                            steps=3, steps_per_epoch=3, batch_size=8, threads=1)
    model, _ = load_model(train(per_frame, clips))
    assert model.config.num_frames == 1 and model.config.prune is None
    unpruned = _config(tmp_path / "full", steps=3, no_prune=True)
    model, _ = load_model(train(unpruned, clips))
    assert model.config.prune is None and model.config.num_frames == 9
    assert np.isfinite(next(model.parameters()).detach().numpy()).all()


def test_data_mix_weights_sources_and_adds_user_clips(tmp_path, clips):
    from engines.data.mocap.cache import new_manifest, write_clip, write_manifest
    from engines.train import load_clips, load_mix

    manifest = new_manifest(50.0)
    for clip in clips[:2]:
        name, sha = write_clip(tmp_path, clip)
        manifest["clips"][clip.name] = {"file": name, "sha256": sha}
    write_manifest(tmp_path, manifest)
    user = tmp_path / "mine.npz"
    np.savez(user, positions=clips[2].positions, fps=50.0)
    mix_file = tmp_path / "mix.yaml"
    mix_file.write_text(f"sources:\n  synthetic: 0.5\nuser:\n  - path: {user}\n    weight: 3\n")
    loaded, weights = load_clips(tmp_path, mix=load_mix(mix_file))
    assert len(loaded) == 3 and loaded[2].source == "user"
    assert weights.tolist() == [0.5, 0.5, 3.0]
    mix_file.write_text("source: {}\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_mix(mix_file)


def test_a_real_video_reference_is_evaluated_during_training(tmp_path, clips):
    from test_multiview import synthetic_reference

    synthetic_reference().save(tmp_path / "ref.npz")
    train(_config(tmp_path / "run", steps=20, reference=str(tmp_path / "ref.npz"), reference_every=20), clips[:3])
    rows = _rows(tmp_path / "run")
    assert rows[0]["real_p_mpjpe_mm"] == "" and float(rows[1]["real_p_mpjpe_mm"]) > 0
    assert float(rows[1]["real_p_mpjpe_fused_mm"]) < float(rows[1]["real_p_mpjpe_mm"])  # its world landmarks are exact
