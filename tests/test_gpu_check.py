"""The prepared GPU check runs end to end on the CPU (--dry-run) and refuses to run without a GPU otherwise."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


def test_dry_run_times_the_live_model_and_writes_json(tmp_path):
    # The official-size model takes minutes on a CPU: the dry run in the suite times the live one.
    out = tmp_path / "check.json"
    done = subprocess.run([sys.executable, "tools/gpu_check.py", "--dry-run", "--models", "live-cpu",
                           "--batches", "1", "2", "--budget-s", "20", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["dry_run"] and report["fp16_error_mm"] == {}
    assert [(r["model"], r["variant"], r["batch"]) for r in report["timing"]] == [
        ("live-cpu", "fp32", 1), ("live-cpu", "fp32", 2)]
    assert all(r["iterations"] >= 1 and r["p50_ms"] > 0 for r in report["timing"])
    bad = subprocess.run([sys.executable, "tools/gpu_check.py", "--dry-run", "--models", "resnet", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown model" in bad.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where there is no GPU")
def test_without_a_gpu_it_says_so_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "tools/gpu_check.py", "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr and "Traceback" not in done.stderr
