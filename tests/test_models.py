"""The architecture registry (engines/models/) and its second member, the causal TCN, through the
same tools as HoT: checkpoints, the engines and their ONNX export, training, FLOPs, the benchmark."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engines.bench import variants
from engines.checkpoint import load_model, read_checkpoint, save_checkpoint
from engines.flops import count_flops, count_params
from engines.models import all_presets, arch_of, create_model, get_preset, preset_name
from engines.models.hot import HoT, HoTConfig
from engines.models.tcn import TCN, TCNConfig
from engines.runtime import load_engine
from engines.runtime.export import export_onnx, verify_export
from engines.train import TrainConfig, train
from engines.windows import lift_sequence
from test_data_synth import walking_clip

TINY_TCN = TCNConfig(filter_widths=(3, 3), channels=16, dropout=0.0)  # 9 frames


@pytest.fixture
def tcn() -> TCN:
    torch.manual_seed(0)
    model = TCN(TINY_TCN).eval()
    with torch.no_grad():  # batch-norm statistics that are not the identity
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            bn.running_mean.normal_(0, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    return model


def windows(n: int, t: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, (n, t, 17, 2)).astype(np.float32)


def test_registry_names_every_architecture_and_preset():
    assert {"live-cpu", "hot-mixste-243", "tcn-81", "videopose3d-243"} <= set(all_presets())
    assert arch_of(get_preset("live-cpu")) == "hot" and arch_of(get_preset("tcn-81")) == "tcn"
    assert isinstance(create_model(get_preset("tcn-81")), TCN)
    assert preset_name(replace(get_preset("tcn-81"), dropout=0.0)) == "tcn-81"  # training-only field
    assert preset_name(TINY_TCN) is None
    with pytest.raises(ValueError, match="unknown preset 'nope'; choose one of"):
        get_preset("nope")


def test_tcn_receptive_field_is_the_window_and_it_serves_its_own_lookahead_only():
    assert get_preset("tcn-81").num_frames == 81 and get_preset("videopose3d-243").num_frames == 243
    assert TINY_TCN.target_index(0) == 8
    with pytest.raises(ValueError, match="causal TCN predicts lookahead 0 only"):
        TINY_TCN.target_index(4)
    assert replace(TINY_TCN, causal=False).target_index(4) == 4
    with pytest.raises(ValueError, match="odd"):
        TCNConfig(filter_widths=(3, 2))


def test_causal_residuals_carry_the_newest_frame(tcn):
    """The residual slices align on the last frame: with the convolutions' own paths silenced
    (zero weights), the output follows the newest frame's embedding only."""
    with torch.no_grad():
        for conv in tcn.layers_conv:
            conv.weight.zero_()
    x = torch.from_numpy(windows(2, 9))
    changed = x.clone()
    changed[:, :6] += 1.0  # frames the last expand-conv output does not see
    torch.testing.assert_close(tcn.forward_target(x, None), tcn.forward_target(changed, None))
    changed[:, 8] += 1.0
    assert not torch.allclose(tcn.forward_target(x, None), tcn.forward_target(changed, None))


def test_checkpoints_store_the_architecture_and_old_ones_load_as_hot(tcn, tmp_path):
    save_checkpoint(tmp_path / "tcn.safetensors", tcn)
    config, _, _ = read_checkpoint(tmp_path / "tcn.safetensors")
    assert config == TINY_TCN
    loaded, _ = load_model(tmp_path / "tcn.safetensors")
    x = torch.from_numpy(windows(3, 9))
    torch.testing.assert_close(loaded.forward_target(x, None), tcn.forward_target(x, None), rtol=0, atol=0)
    hot = HoT(HoTConfig(num_frames=9, dim=16, depth=2, num_heads=4, keep_tokens=3, prune_layer=1))
    old = {k: v.contiguous() for k, v in hot.state_dict().items()}
    save_file(old, str(tmp_path / "old.safetensors"),  # a checkpoint from before the registry: no arch
              metadata={"format": "hotstream/1", "config": json.dumps(hot.config.to_dict()), "info": "{}"})
    model, _ = load_model(tmp_path / "old.safetensors")
    assert isinstance(model, HoT) and model.config == hot.config
    assert set(load_file(tmp_path / "old.safetensors")) == set(model.state_dict())


def test_tcn_engines_and_export_agree(tcn, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    save_checkpoint(tmp_path / "tcn.safetensors", tcn)
    seq = windows(1, 30, seed=2)[0]
    torch_out = lift_sequence(load_engine(tmp_path / "tcn.safetensors", backend="torch"), seq)
    ort = load_engine(tmp_path / "tcn.safetensors", backend="onnxruntime-cpu")
    assert ort.frame_cache is None and ort.describe()["model"] == "tcn"  # no per-frame half to cache
    np.testing.assert_allclose(lift_sequence(ort, seq), torch_out, atol=1e-5)
    report = export_onnx(tcn, tmp_path / "tcn.onnx")
    check = verify_export(tmp_path / "tcn.onnx", tcn, windows(16, 9))
    assert check["parity"] and check["selection_differs"] == check["near_ties"] == 0
    assert check["tensorrt_problems"] == [] and report["graph"] == "window"
    with pytest.raises(ValueError, match="no per-frame half"):
        export_onnx(tcn, tmp_path / "frames.onnx", graph="frames")


def test_tcn_trains_with_the_same_trainer(tmp_path):
    clips = [walking_clip(seed=i, name=f"walk{i}") for i in range(3)]
    cfg = TrainConfig(out=str(tmp_path), preset="tcn-81", overrides={"filter_widths": [3, 3], "channels": 32},
                      steps=60, steps_per_epoch=10, batch_size=16, val_windows=32, threads=1, warmup_steps=5, lr=2e-3)
    final = train(cfg, clips[:2], clips[2:])
    with open(tmp_path / "metrics.csv") as f:
        rows = f.read().splitlines()[1:]
    first, last = (float(r.split(",")[4]) for r in (rows[0], rows[-1]))
    assert last < 0.8 * first  # the loss falls
    model, info = load_model(final)
    assert isinstance(model, TCN) and model.config.filter_widths == (3, 3) and info["steps"] == 60
    with pytest.raises(ValueError, match="nothing to prune"):
        train(replace(cfg, no_prune=True), clips[:2])


def test_tcn_flops_are_its_convolutions_and_the_benchmark_measures_it_as_is(tcn):
    c, t = TINY_TCN.channels, 9
    expand = 2 * 34 * c * 3 * (t - 2)
    block = 2 * c * c * 3 * 1 + 2 * c * c * 1  # dilation 3 on 7 frames leaves 1
    assert count_flops(tcn) == expand + block + 2 * c * 51
    assert count_params(tcn) == sum(p.numel() for p in tcn.parameters())
    assert list(variants(tcn)) == ["tcn"]
    assert list(variants(HoT(get_preset("live-cpu")))) == ["tpc", "unpruned"]
