"""ONNX export: graph checks, metadata, TensorRT op coverage and ORT-vs-PyTorch parity on real windows.

Real windows come from assets/sample_pose2d.npz (MediaPipe on assets/sample.mp4, made by
tests/data/make_sample_pose2d.py). The model is the trained default checkpoint when present,
else a seeded random model of the live preset.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from engines.checkpoint import DEFAULT_WEIGHTS, load_model
from engines.runtime.export import (HOT_LEVEL_NODE, export_onnx, read_metadata, tensorrt_problems,
                            tensorrt_supported_ops, verify_export)
from engines.models.hot import HoT, HoTConfig
from engines.models import get_preset
from engines.skeleton import JOINT_NAMES
from engines.windows import target_windows

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample_pose2d.npz"
TOLERANCE = 1e-4  # metres, fp32
MAX_SELECTION_DIFFERS = 0.02  # fraction of real windows where ORT and PyTorch may keep different frames


@pytest.fixture(scope="module")
def model() -> HoT:
    if DEFAULT_WEIGHTS.is_file():
        return load_model(DEFAULT_WEIGHTS)[0]
    torch.manual_seed(0)
    return HoT(get_preset("live-cpu")).eval()


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "live.onnx"
    export_onnx(model, path, weights_sha256="0" * 64)
    return path


@pytest.fixture(scope="module")
def real_windows(model) -> np.ndarray:
    t = model.config.num_frames
    return np.ascontiguousarray(target_windows(np.load(SAMPLE)["pose2d"], t)[t - 1:])


def test_graph_passes_checker_and_has_expected_io(exported, model):
    graph = onnx.load(str(exported))
    onnx.checker.check_model(graph, full_check=True)
    assert graph.opset_import[0].version >= 17
    ops = {n.op_type for n in graph.graph.node}
    assert "LayerNormalization" in ops  # one op, not decomposed
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (*graph.graph.input, *graph.graph.output)}
    t = model.config.num_frames
    assert dims == {"pose2d": ["batch", t, 17, 2], "target": ["batch"], "pose3d": ["batch", 17, 3]}
    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
    assert {i.data_type for i in graph.graph.initializer} & float_types == {onnx.TensorProto.FLOAT}  # fp32 only


def test_metadata_describes_inputs(exported, model):
    config, props = read_metadata(exported)
    assert config == model.config
    assert json.loads(props["hotstream.joints"]) == list(JOINT_NAMES)
    assert props["hotstream.num_frames"] == str(model.config.num_frames)
    assert props["hotstream.lookahead_default"] == "0"
    assert "x / w * 2 - 1" in props["hotstream.normalization"]
    assert props["hotstream.checkpoint_sha256"] == "0" * 64


def test_every_op_is_on_the_tensorrt_parser_list(exported):
    assert {"MatMul", "TopK", "LayerNormalization"} <= tensorrt_supported_ops()
    assert tensorrt_problems(onnx.load(str(exported))) == []


def test_tensorrt_check_flags_unsupported_ops():
    node = onnx.helper.make_node("StringNormalizer", ["x"], ["y"])
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.STRING, [1])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.STRING, [1])])
    assert tensorrt_problems(onnx.helper.make_model(graph)) == ["StringNormalizer is not supported"]


def test_ort_matches_torch_on_real_windows(exported, model, real_windows):
    report = verify_export(exported, model, real_windows, tolerance=TOLERANCE)
    assert report["windows"] == len(real_windows) > 100
    assert report["selection_differs"] <= MAX_SELECTION_DIFFERS * report["windows"], report
    assert report["near_ties"] <= MAX_SELECTION_DIFFERS * report["windows"], report
    assert report["max_abs_err"] <= TOLERANCE, report


def test_ort_matches_torch_on_random_windows(exported, model):
    windows = np.random.default_rng(1).normal(0, 0.3, (16, model.config.num_frames, 17, 2))
    report = verify_export(exported, model, windows, tolerance=TOLERANCE)
    assert report["selection_differs"] <= 1 and report["max_abs_err"] <= TOLERANCE, report


def test_one_graph_serves_every_lookahead(exported, model, real_windows):
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    x = real_windows[::20]
    for lookahead in (0, 5, (model.config.num_frames - 1) // 2):
        target = np.full(len(x), model.config.target_index(lookahead), dtype=np.int64)
        got = session.run(None, {"pose2d": x, "target": target})[0]
        with torch.inference_mode():
            want = model(torch.from_numpy(x), torch.from_numpy(target)).numpy()
        np.testing.assert_allclose(got, want, atol=TOLERANCE)


def test_onnxruntime_attention_graph_matches_torch(model, real_windows, tmp_path):
    path = tmp_path / "ort.onnx"
    export_onnx(model, path, attention="onnxruntime")
    graph = onnx.load(str(path))
    fused = [n for n in graph.graph.node if (n.domain, n.op_type) == ("com.microsoft", "Attention")]
    assert len(fused) == 2 * model.config.depth  # every spatial and temporal self-attention
    assert read_metadata(path)[1]["hotstream.attention"] == "onnxruntime"
    report = verify_export(path, model, real_windows[::2], tolerance=TOLERANCE)
    assert report["selection_differs"] <= MAX_SELECTION_DIFFERS * report["windows"], report
    assert report["near_ties"] <= MAX_SELECTION_DIFFERS * report["windows"], report
    assert report["max_abs_err"] <= TOLERANCE, report
    assert "com.microsoft.Attention is not supported" in report["tensorrt_problems"]  # ONNX Runtime only


def test_frame_and_token_graphs_compose_to_the_window_graph(exported, model, real_windows, tmp_path):
    export_onnx(model, tmp_path / "frames.onnx", graph="frames")
    export_onnx(model, tmp_path / "tokens.onnx", graph="tokens")
    assert read_metadata(tmp_path / "frames.onnx")[1]["hotstream.graph"] == "frames"
    x = real_windows[::10]
    target = np.full(len(x), model.config.num_frames - 1, dtype=np.int64)
    frames = ort.InferenceSession(str(tmp_path / "frames.onnx")).run(None, {"pose2d": x.reshape(-1, 17, 2)})[0]
    tokens = frames.reshape(*x.shape[:3], model.config.dim)
    got = ort.InferenceSession(str(tmp_path / "tokens.onnx")).run(None, {"frame_tokens": tokens, "target": target})[0]
    want = ort.InferenceSession(str(exported)).run(None, {"pose2d": x, "target": target})[0]
    np.testing.assert_allclose(got, want, atol=TOLERANCE)
    with pytest.raises(ValueError, match="'tokens' graph"):
        verify_export(tmp_path / "tokens.onnx", model, x)


def test_pruning_nodes_are_the_ones_tensorrt_keeps_in_fp32(exported):
    """The TensorRT backend pins nodes of the HoT module itself (HOT_LEVEL_NODE) to fp32 in fp16 plans."""
    nodes = onnx.load(str(exported)).graph.node
    pruning = [n.name for n in nodes if n.op_type in ("TopK", "Exp")]  # kNN, density
    assert pruning and all(HOT_LEVEL_NODE.match(name) for name in pruning)
    assert not any(HOT_LEVEL_NODE.match(n.name) for n in nodes if "blocks" in n.name)


def test_fixed_batch_and_no_simplify(model, tmp_path):
    report = export_onnx(model, tmp_path / "b1.onnx", batch=1, simplify=False)
    assert report["simplified"] is False and report["batch"] == 1
    graph = onnx.load(str(tmp_path / "b1.onnx"))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


def test_seq2seq_model_exports_its_target_frame(tmp_path):
    config = HoTConfig(num_frames=27, dim=32, depth=3, num_heads=4, prune="tpc", keep_tokens=9, prune_layer=1,
                       seq2seq=True, recover="tra", kept_pos_embed=True, drop_path=0.0)
    torch.manual_seed(0)
    seq2seq = HoT(config).eval()
    export_onnx(seq2seq, tmp_path / "s2s.onnx")
    x = np.random.default_rng(0).normal(0, 0.3, (4, 27, 17, 2)).astype(np.float32)
    target = np.full(4, 20, dtype=np.int64)
    got = ort.InferenceSession(str(tmp_path / "s2s.onnx")).run(None, {"pose2d": x, "target": target})[0]
    with torch.inference_mode():
        want = seq2seq(torch.from_numpy(x))[:, 20].numpy()
    assert got.shape == (4, 17, 3)
    np.testing.assert_allclose(got, want, atol=TOLERANCE)


@pytest.mark.parametrize("kwargs, message", [({"opset": 16}, "opset"), ({"lookahead": 81}, "lookahead"),
                                              ({"batch": 0}, "batch"), ({"graph": "head"}, "unknown graph"),
                                              ({"attention": "flash"}, "unknown attention")])
def test_bad_export_options_are_refused(model, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_onnx(model, tmp_path / "x.onnx", **kwargs)
    assert not (tmp_path / "x.onnx").exists()


def test_export_cli_checks_a_fixed_batch_graph(tmp_path):
    from engines.checkpoint import save_checkpoint

    torch.manual_seed(0)
    tiny = HoT(HoTConfig(num_frames=27, dim=32, depth=3, num_heads=4, prune="tpc", keep_tokens=5, prune_layer=1,
                         drop_path=0.0)).eval()
    save_checkpoint(tmp_path / "tiny.safetensors", tiny)
    result = subprocess.run([sys.executable, "tools/export.py", str(tmp_path / "tiny.safetensors"),
                             str(tmp_path / "tiny.onnx"), "--batch", "4"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["export"]["batch"] == 4
    assert report["checks"]["real"]["windows"] % 4 == 0 and report["checks"]["real"]["parity"]
    assert report["checks"]["random"]["tensorrt_problems"] == []
    missing = subprocess.run([sys.executable, "tools/export.py", str(tmp_path / "nope.safetensors"),
                              str(tmp_path / "x.onnx")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "nope.safetensors" in missing.stderr
