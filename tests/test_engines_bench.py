"""Benchmark plumbing on a tiny model: every engine is measured next to its unpruned twin, FLOPs and
ratios are reported, and the CLI writes JSON and markdown. No timing assertions."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from engines.bench import StreamFeed, benchmark, machine_info, to_markdown, unpruned_twin
from engines.flops import count_flops
from engines.models.hot import HoT, HoTConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = HoTConfig(num_frames=27, dim=32, depth=3, num_heads=4, prune="tpc", keep_tokens=5, prune_layer=1,
                 drop_path=0.0)


def tiny() -> HoT:
    torch.manual_seed(0)
    return HoT(TINY).eval()


def test_unpruned_twin_shares_every_weight():
    model = tiny()
    twin = unpruned_twin(model)
    assert twin.config.prune is None and twin.config.dim == model.config.dim
    for key, value in twin.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_pruning_cuts_flops():
    model = tiny()
    assert 0 < count_flops(model) < count_flops(unpruned_twin(model))


def test_benchmark_reports_tpc_and_unpruned_side_by_side(tmp_path):
    report = benchmark({"tiny": tiny()}, ["onnxruntime-cpu", "torch"], batches=(1, 2), threads=1, iterations=3,
                       warmup=1, max_seconds=1.0, cache_dir=tmp_path, progress=False)
    rows = {(r["variant"], r["backend"], r["frame_cache"], r["batch"]) for r in report["results"]}
    assert rows == {(v, b, c, n) for v in ("tpc", "unpruned") for b in ("onnxruntime-cpu", "torch")
                    for c in (True, False) for n in (1, 2)}
    for r in report["results"]:
        assert r["iterations"] >= 3 and r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] and r["windows_per_s"] > 0
    whats = {r["what"] for r in report["ratios"]}
    assert {"TPC vs unpruned (onnxruntime-cpu, frame cache)", "TPC vs unpruned (onnxruntime-cpu, whole windows)",
            "onnxruntime-cpu vs torch (tpc, frame cache)", "frame cache vs whole windows (torch, tpc)"} <= whats
    assert report["machine"]["threads"] == 1 and report["machine"]["cpu"]
    table = to_markdown(report)
    assert table.count("| tiny |") == len(report["results"]) + len(report["ratios"])
    # three runs each: no ratio is printed, and the table says why
    assert all(r["speedup"] is None and r["runs"] >= 3 for r in report["ratios"])
    assert "too few runs (" in table and "at least 100 timed runs" in table


def test_ratios_come_from_measurements_with_enough_runs():
    from engines.bench import MIN_RUNS_FOR_RATIO, Measurement, speed_ratios

    def row(variant, p50, runs):
        return Measurement("m", variant, "torch", True, 1, runs, p50, p50, p50, 1.0, 1.0, 1, 0.0, "rss")

    assert speed_ratios([row("tpc", 2.0, MIN_RUNS_FOR_RATIO), row("unpruned", 6.0, 300)])[0]["speedup"] == 3.0
    assert speed_ratios([row("tpc", 2.0, MIN_RUNS_FOR_RATIO - 1), row("unpruned", 6.0, 300)])[0]["speedup"] is None


def test_stream_feed_slides_the_windows_along_one_sequence():
    feed = StreamFeed(window=27, joints=17, batch=2, calls=5)
    first, second = feed(), feed()
    assert first.shape == (2, 27, 17, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first[1, :-1], first[0, 1:])  # consecutive windows within a batch
    np.testing.assert_array_equal(second[0, :-2], first[0, 2:])  # and across calls
    calls = [first, second, *(feed() for _ in range(3))]
    assert len({c.tobytes() for c in calls}) == 5  # a frame cache cannot profit from a repeated batch
    np.testing.assert_array_equal(feed(), first)  # after `calls` batches it starts over


def test_machine_info_names_cpu_and_versions():
    info = machine_info(2)
    assert info["logical_cores"] >= 1 and info["torch"] == torch.__version__ and info["onnxruntime"]


def test_cli_writes_json_and_markdown(tmp_path):
    checkpoint = tmp_path / "tiny.safetensors"
    from engines.checkpoint import save_checkpoint

    save_checkpoint(checkpoint, tiny())
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    result = subprocess.run([sys.executable, "tools/bench.py", "--weights", str(checkpoint), "--backend", "torch",
                             "--batch", "1", "--iters", "3", "--warmup", "1", "--threads", "1",
                             "--out-json", str(out_json), "--out-md", str(out_md)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(out_json.read_text())
    assert {r["variant"] for r in report["results"]} == {"tpc", "unpruned"}
    assert "| tiny | tpc | torch | yes | 1 |" in out_md.read_text()


def test_cli_rejects_missing_checkpoint(tmp_path):
    result = subprocess.run([sys.executable, "tools/bench.py", "--weights", str(tmp_path / "nope.safetensors")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "error:" in result.stderr and "nope.safetensors" in result.stderr


def test_one_call_for_several_people_gives_each_the_pose_of_a_call_of_their_own():
    """The frame cache keys tokens by the frame's values, so people batched together never mix."""
    from engines.bench import OneByOne, PeopleFeed
    from engines.runtime import load_engine

    together, apart = (load_engine(None, backend="onnxruntime-cpu", threads=1) for _ in range(2))
    feed = PeopleFeed(together.window, 17, people=3, calls=4)
    for _ in range(4):  # sliding: the cache reuses frames from call to call
        windows = feed()
        np.testing.assert_allclose(together.run(windows), np.concatenate(OneByOne(apart).run(windows)), atol=1e-5)


def test_cli_people_compares_one_call_with_a_call_each(tmp_path):
    out_json = tmp_path / "people.json"
    result = subprocess.run([sys.executable, "tools/bench.py", "--people", "1", "2", "--iters", "3", "--warmup", "1",
                             "--threads", "1", "--out-json", str(out_json)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out_json.read_text())["people"]
    assert [r["people"] for r in rows] == [1, 2] and all(r["one_call_p50_ms"] > 0 and r["runs"] == 3 for r in rows)
    assert "| 2 |" in result.stdout
    bad = subprocess.run([sys.executable, "tools/bench.py", "--people", "0"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: --people")
