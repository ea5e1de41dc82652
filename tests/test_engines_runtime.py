"""The engine interface: backend choice, the ONNX export cache, input checks, TensorRT plan-cache rules,
and GPU paths (TensorRT, fp16, CUDA graphs) that skip without a GPU."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from engines.checkpoint import DEFAULT_WEIGHTS, CheckpointError, save_checkpoint
from engines.runtime.export import export_onnx
from engines.models.hot import HoT
from engines.models import get_preset
from engines.runtime import BACKENDS, load_engine, unavailable_reason
from engines.skeleton import mirror
from engines.runtime.cache import onnx_cache_path, plan_cache_path, plan_key, stale_reasons, write_plan_key
from engines.windows import target_windows

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample_pose2d.npz"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_tensorrt = pytest.mark.skipif(unavailable_reason("tensorrt") is not None,
                                    reason=f"TensorRT backend unavailable: {unavailable_reason('tensorrt')}")
# fp16 vs fp32 on GPU: the transformer runs in half precision, pruning stays fp32. Outputs are in
# metres: 10 mm worst joint and 2 mm mean error are well below the model's own error (tens of mm),
# and well above fp16 rounding alone.
FP16_MAX_ERROR_M = 0.010
FP16_MEAN_ERROR_M = 0.002


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """The trained default checkpoint when present, else a seeded random live-preset checkpoint."""
    if DEFAULT_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "live-random.safetensors"
    save_checkpoint(path, HoT(get_preset("live-cpu")).eval())
    return path


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    t = get_preset("live-cpu").num_frames
    return np.ascontiguousarray(target_windows(np.load(SAMPLE)["pose2d"], t)[t - 1::10])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_torch_engine_runs_and_describes_itself(weights, windows):
    engine = load_engine(weights, backend="torch", lookahead=3)
    out = engine.run(windows)
    assert out.shape == (len(windows), 17, 3) and out.dtype == np.float32
    info = engine.describe()
    assert info["backend"] == "torch" and info["T"] == engine.window == 81
    assert info["lookahead"] == engine.lookahead == 3 and info["target_index"] == 77
    assert info["weights"] == str(weights) and len(info["weights_sha256"]) == 64
    assert info["config"]["prune"] == "tpc" and info["preset"] == "live-cpu"


def test_flip_augmentation_averages_the_window_and_its_mirror_image(weights, windows, tmp_path):
    plain = load_engine(weights, backend="onnxruntime-cpu", cache_dir=tmp_path)
    flipped = load_engine(weights, backend="onnxruntime-cpu", cache_dir=tmp_path, flip=True)
    expected = (plain.run(windows) + mirror(plain.run(mirror(windows)))) / 2
    np.testing.assert_allclose(flipped.run(windows), expected, atol=1e-5)
    # Mirroring the input mirrors the output exactly: left and right are treated alike.
    np.testing.assert_allclose(flipped.run(mirror(windows)), mirror(flipped.run(windows)), atol=1e-5)
    assert flipped.describe()["flip"] and not plain.describe()["flip"]


def test_onnxruntime_matches_torch_and_export_is_cached(weights, windows, cache_dir, caplog):
    torch_out = load_engine(weights, backend="torch").run(windows)
    with caplog.at_level(logging.INFO, logger="hotstream.engines"):
        engine = load_engine(weights, backend="onnxruntime-cpu", cache_dir=cache_dir, threads=1)
    assert any("exporting" in r.message for r in caplog.records)
    np.testing.assert_allclose(engine.run(windows), torch_out, atol=1e-4)
    graphs = engine.describe()["onnx"]
    assert set(graphs) == {"frames", "tokens"} and engine.describe()["frame_cache"]
    assert all(Path(p).parent == cache_dir / "onnx" and Path(p).is_file() for p in graphs.values())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hotstream.engines"):
        again = load_engine(weights, backend="onnxruntime-cpu", cache_dir=cache_dir)
    assert again.describe()["onnx"] == graphs
    assert not any("exporting" in r.message for r in caplog.records)


@pytest.mark.parametrize("backend", ["onnxruntime-cpu", "torch"])
def test_frame_cache_gives_whole_window_results_and_encodes_each_frame_once(weights, cache_dir, backend):
    """A live stream: consecutive windows one call at a time, then as one batch; with and without
    the frame cache the outputs agree, and the cache encodes each distinct frame once."""
    t = get_preset("live-cpu").num_frames
    stream = np.ascontiguousarray(target_windows(np.load(SAMPLE)["pose2d"][:t + 11], t)[t - 1:])
    options = dict(backend=backend, threads=1, **({"cache_dir": cache_dir} if backend != "torch" else {}))
    whole = load_engine(weights, frame_cache=False, **options)
    cached = load_engine(weights, **options)
    assert cached.describe()["frame_cache"] and not whole.describe()["frame_cache"]
    want = whole.run(stream)
    got = np.concatenate([cached.run(w[None]) for w in stream])
    np.testing.assert_allclose(got, want, atol=1e-4)
    distinct = len(np.unique(stream.reshape(-1, 34), axis=0))
    assert cached.frame_cache.frames_encoded == distinct
    assert cached.frame_cache.frames_reused == stream.shape[0] * t - distinct
    np.testing.assert_allclose(cached.run(stream), want, atol=1e-4)
    # The cache holds the latest call's frames only: the 11 frames that slid out are encoded again.
    assert cached.frame_cache.frames_encoded == distinct + len(stream) - 1


def test_auto_picks_first_available_backend_and_logs_why(weights, cache_dir, caplog):
    """One INFO line names the backend and those not available; the reasons are DEBUG lines."""
    with caplog.at_level(logging.DEBUG, logger="hotstream.engines"):
        engine = load_engine(weights, cache_dir=cache_dir)
    expected = next(b for b in BACKENDS if unavailable_reason(b) is None)
    assert engine.backend == expected
    info = [r.message for r in caplog.records if r.levelno >= logging.INFO and "backend" in r.message
            or r.message.startswith("lifting engine")]
    assert len(info) == 1 and info[0].startswith("lifting engine") and expected in info[0]
    for skipped in BACKENDS[:BACKENDS.index(expected)]:
        assert skipped in info[0]
        assert any(skipped in r.message and unavailable_reason(skipped) in r.message
                   for r in caplog.records if r.levelno == logging.DEBUG)


def test_given_onnx_file_is_used_as_is(weights, windows, tmp_path):
    from engines.checkpoint import load_model

    model, _ = load_model(weights)
    export_onnx(model, tmp_path / "given.onnx", weights_sha256="ab" * 32)
    engine = load_engine(backend="onnxruntime-cpu", onnx=tmp_path / "given.onnx", cache_dir=tmp_path / "cache")
    assert engine.describe()["onnx"] == {"window": str(tmp_path / "given.onnx")}
    assert not engine.describe()["frame_cache"]
    assert engine.describe()["weights_sha256"] == "ab" * 32
    assert engine.run(windows[:2]).shape == (2, 17, 3)
    assert not (tmp_path / "cache").exists()
    with pytest.raises(RuntimeError, match="ONNX file was given without a checkpoint"):
        load_engine(backend="torch", onnx=tmp_path / "given.onnx")
    with pytest.raises(ValueError, match="given.onnx: a 'window' graph was given; this engine needs frames"):
        load_engine(backend="onnxruntime-cpu", onnx=tmp_path / "given.onnx", frame_cache=True)


@pytest.mark.parametrize("bad", [np.zeros((81, 17, 2)), np.zeros((1, 80, 17, 2)), np.zeros((1, 81, 33, 2)),
                                 np.zeros((0, 81, 17, 2))])
def test_run_rejects_wrong_shapes(weights, bad):
    engine = load_engine(weights, backend="torch")
    with pytest.raises(ValueError, match="windows must have shape"):
        engine.run(bad)


def test_bad_arguments_give_clear_errors(weights, tmp_path):
    with pytest.raises(ValueError, match="unknown backend"):
        load_engine(weights, backend="tflite")
    with pytest.raises(ValueError, match="lookahead"):
        load_engine(weights, backend="torch", lookahead=81)
    with pytest.raises(ValueError, match="no option"):
        load_engine(weights, backend="onnxruntime-cpu", compile=True)
    with pytest.raises(CheckpointError, match="not found"):
        load_engine(tmp_path / "missing.safetensors", backend="torch")
    with pytest.raises(FileNotFoundError, match="ONNX file not found"):
        load_engine(weights, backend="onnxruntime-cpu", onnx=tmp_path / "missing.onnx")
    if unavailable_reason("tensorrt"):
        with pytest.raises(RuntimeError, match="not available"):
            load_engine(weights, backend="tensorrt")


def test_onnx_cache_path_follows_checkpoint_and_options(tmp_path):
    a = onnx_cache_path(tmp_path, "a" * 64, {"batch": "dyn", "opset": 17})
    assert a != onnx_cache_path(tmp_path, "b" * 64, {"batch": "dyn", "opset": 17})
    assert a != onnx_cache_path(tmp_path, "a" * 64, {"batch": 1, "opset": 17})
    assert a == onnx_cache_path(tmp_path, "a" * 64, {"opset": 17, "batch": "dyn"})


def test_tensorrt_plan_staleness_rules(tmp_path):
    key = plan_key("f" * 64, "10.3.0", "Orin (nvgpu)", "fp16", 8)
    plan = plan_cache_path(tmp_path, key)
    assert "Orin_nvgpu" in plan.name and plan.suffix == ".plan"
    assert stale_reasons(plan, key) == [f"{plan} does not exist"]
    plan.parent.mkdir(parents=True)
    plan.write_bytes(b"plan")
    assert "missing" in stale_reasons(plan, key)[0]
    write_plan_key(plan, key)
    assert stale_reasons(plan, key) == []
    other = plan_key("f" * 64, "10.7.0", "NVIDIA GeForce RTX 4090", "fp16", 8)
    reasons = stale_reasons(plan, other)
    assert len(reasons) == 2 and any("tensorrt" in r for r in reasons) and any("gpu" in r for r in reasons)
    assert plan_cache_path(tmp_path, other) != plan


@needs_tensorrt
def test_tensorrt_matches_onnxruntime(weights, windows, cache_dir):
    reference = load_engine(weights, backend="onnxruntime-cpu", cache_dir=cache_dir).run(windows)
    fp32 = load_engine(weights, backend="tensorrt", cache_dir=cache_dir, fp16=False)
    np.testing.assert_allclose(fp32.run(windows), reference, atol=1e-3)
    fp16 = load_engine(weights, backend="tensorrt", cache_dir=cache_dir, fp16=True)
    error = np.abs(fp16.run(windows) - reference)
    assert error.max() < FP16_MAX_ERROR_M and error.mean() < FP16_MEAN_ERROR_M
    rebuilt = load_engine(weights, backend="tensorrt", cache_dir=cache_dir, fp16=True, rebuild=False)
    assert rebuilt.describe()["plan"] == fp16.describe()["plan"]



@needs_cuda
def test_torch_fp16_close_to_fp32(weights, windows):
    fp32 = load_engine(weights, backend="torch", device="cuda", fp16=False, cuda_graph=False).run(windows)
    fp16 = load_engine(weights, backend="torch", device="cuda", fp16=True, cuda_graph=False).run(windows)
    error = np.abs(fp16 - fp32)
    assert error.max() < FP16_MAX_ERROR_M and error.mean() < FP16_MEAN_ERROR_M


@needs_cuda
def test_torch_cuda_graph_matches_eager(weights, windows):
    eager = load_engine(weights, backend="torch", device="cuda", fp16=False, cuda_graph=False)
    graphed = load_engine(weights, backend="torch", device="cuda", fp16=False, cuda_graph=True)
    for batch in (1, 4, 1):
        np.testing.assert_allclose(graphed.run(windows[:batch]), eager.run(windows[:batch]), atol=1e-5)
