"""A prepared GPU check: the torch CUDA backend's latency and its fp16 error, in one short run.

Made for a lent machine with a CUDA GPU and PyTorch only (no TensorRT, no ONNX Runtime GPU, no
network): it needs nothing but this repository. For ``live-cpu`` (the shipped weights) and the
official-size ``tpc-mixste-243`` (seeded random weights: the official ones cannot be downloaded
there), at each batch size, it times fp32, fp16, and fp16 and fp32 with CUDA graphs, and measures
the fp16-vs-fp32 difference in mm on real windows of the sample clip (``assets/sample_pose2d.npz``,
edge-padded as the live ring pads). Every measurement stops at its share of a time budget, so the
whole run fits in minutes. ``dry_run`` does the same on the CPU with fp32 only and a few
iterations on 8 windows: the tests run it.
"""
from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engines.checkpoint import DEFAULT_WEIGHTS, load_model, save_checkpoint
from engines.models.hot import HoT
from engines.windows import target_windows
from engines.models import get_preset
from engines.runtime import load_engine

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample_pose2d.npz"
MODELS = ("live-cpu", "tpc-mixste-243")
VARIANTS = {"fp32": {"fp16": False, "cuda_graph": False}, "fp16": {"fp16": True, "cuda_graph": False},
            "fp32+graph": {"fp16": False, "cuda_graph": True}, "fp16+graph": {"fp16": True, "cuda_graph": True}}


def sample_windows(num_frames: int, lookahead: int = 0) -> np.ndarray:
    """Every window of the sample clip's 2D for a model of ``num_frames`` frames."""
    with np.load(SAMPLE) as data:
        return np.ascontiguousarray(target_windows(data["pose2d"], num_frames, lookahead), dtype=np.float32)


def _checkpoints(workdir: Path, models: tuple[str, ...]) -> dict[str, Path]:
    paths = {"live-cpu": DEFAULT_WEIGHTS}
    if "tpc-mixste-243" in models:
        torch.manual_seed(0)
        paths["tpc-mixste-243"] = workdir / "tpc-mixste-243-random.safetensors"
        save_checkpoint(paths["tpc-mixste-243"], HoT(get_preset("tpc-mixste-243")).eval(),
                        info={"weights": "random, seed 0"})
    return {m: paths[m] for m in models}


def _time(engine, windows: np.ndarray, batch: int, iters: int, max_s: float, device: str, warmup: int) -> dict:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    calls = [windows[(i * batch) % max(len(windows) - batch, 1):][:batch] for i in range(iters + warmup)]
    for x in calls[:warmup]:  # kernels chosen, CUDA graphs captured
        engine.run(x)
    sync()
    times, started = [], time.perf_counter()
    for x in calls[warmup:]:
        t0 = time.perf_counter()
        engine.run(x)
        sync()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - started > max_s:
            break
    ms = 1000 * np.asarray(times)
    return {"iterations": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "windows_per_s": float(batch * len(ms) / (ms.sum() / 1000))}


def run_check(batches: tuple[int, ...] = (1, 4, 16), iters: int = 200, budget_s: float = 420.0,
              dry_run: bool = False, models: tuple[str, ...] = MODELS, progress=print) -> dict:
    """The measurements as a JSON-ready dict (see the module doc)."""
    device = "cpu" if dry_run else "cuda"
    if not dry_run and not torch.cuda.is_available():
        raise RuntimeError("no CUDA GPU is visible to torch (use --dry-run to try the check on the CPU)")
    variants = {"fp32": VARIANTS["fp32"]} if dry_run else VARIANTS
    report = {"device": torch.cuda.get_device_name() if not dry_run else platform.processor() or "cpu",
              "torch": torch.__version__, "cuda": torch.version.cuda, "dry_run": dry_run, "timing": [], "fp16_error_mm": {}}
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown model(s) {sorted(unknown)}; choose from {', '.join(MODELS)}")
    share = budget_s / (len(models) * len(variants) * len(batches))
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as workdir:
        for model, weights in _checkpoints(Path(workdir), models).items():
            config = load_model(weights)[0].config
            windows = sample_windows(config.num_frames)[:8 if dry_run else None]
            outputs = {}
            for name, options in variants.items():
                engine = load_engine(weights, backend="torch", device=device, frame_cache=False, **options)
                if name.startswith("fp16") or "fp16" in variants:  # the fp16 error needs fp32's output too
                    outputs[name] = np.concatenate([engine.run(windows[i:i + 16]) for i in range(0, len(windows), 16)])
                for batch in batches:
                    row = {"model": model, "variant": name, "batch": batch,
                           **_time(engine, windows, batch, iters, share, device, 1 if dry_run else 5)}
                    report["timing"].append(row)
                    progress(f"{model:15s} {name:11s} batch {batch:2d}: p50 {row['p50_ms']:.2f} ms, "
                             f"{row['windows_per_s']:.0f} windows/s")
                del engine
            if "fp16" in outputs:
                error = 1000 * np.linalg.norm(outputs["fp16"] - outputs["fp32"], axis=-1)
                report["fp16_error_mm"][model] = {"mean": float(error.mean()), "max": float(error.max()),
                                                  "windows": len(windows)}
                progress(f"{model}: fp16 vs fp32 {error.mean():.3f} mm mean, {error.max():.3f} mm max")
    return report
