"""Benchmark lifting engines: latency percentiles, throughput, FLOPs, parameters and memory.

Every measurement goes through :func:`engines.runtime.load_engine`, so what is timed is exactly
what the live pipeline runs (input conversion included). Each model is always measured next to
its unpruned twin (same backbone and weights, no token pruning; HoT models) in the same run, so the speed-up
that pruning buys is read off one table on one machine under one load. Engines are fed as a live
stream feeds them: each call gets the next windows of one long sequence (batch B: B consecutive
windows, then the B after them), and CPU backends run twice, with the frame-token cache (what
the pipeline uses) and on whole windows. Thread counts are set explicitly; the machine, its load
average and library versions are recorded with the numbers.

:func:`people_cost` times what several people cost the live lifter: one batched call for all
their windows against a call each.
"""
from __future__ import annotations

import ctypes
import gc
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil
import torch
from tqdm import tqdm

from engines.checkpoint import load_model, save_checkpoint
from engines.flops import count_flops, count_params
from engines.skeleton import NUM_JOINTS
from engines.models import arch_of, create_model, get_preset
from engines.models.hot import HoT, unpruned
from engines.runtime import BACKENDS, load_engine, unavailable_reason
from engines.runtime.graph import has_frame_split
from engines.windows import target_windows


@dataclass
class Measurement:
    model: str
    variant: str  # "tpc" (as configured), "unpruned" (the same backbone without pruning), or another arch
    backend: str
    frame_cache: bool
    batch: int
    iterations: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    windows_per_s: float
    gflops_per_window: float
    params: int
    memory_mb: float
    memory_kind: str


def machine_info(threads: int) -> dict:
    """What the numbers were measured on: CPU, cores, OS, load, library versions, GPU."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
        "threads": threads, "load_average_1m": os.getloadavg()[0], "os": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def variants(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """What to measure of one model: a pruned HoT as configured (``tpc``) beside its unpruned
    twin; any other model as it is, named by its architecture (``unpruned`` for a plain HoT)."""
    if getattr(model.config, "prune", None):
        return {"tpc": model, "unpruned": unpruned_twin(model)}
    arch = arch_of(model.config)
    return {"unpruned" if arch == "hot" else arch: model}


def unpruned_twin(model: HoT) -> HoT:
    """The same backbone without pruning, carrying every weight whose name and shape it shares."""
    twin = HoT(unpruned(model.config)).eval()
    own = twin.state_dict()
    shared = {k: v for k, v in model.state_dict().items() if k in own and own[k].shape == v.shape}
    twin.load_state_dict(shared, strict=False)
    return twin


def _release_freed_memory() -> None:
    """Return freed heap pages to the OS (glibc), so an RSS delta counts only the next engine."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: RSS deltas are then upper bounds of what the engine allocated


def _memory_mb(backend: str, rss_before: int) -> tuple[float, str]:
    if backend in ("torch", "tensorrt", "onnxruntime-cuda") and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20, "cuda max_memory_allocated"
    return (psutil.Process().memory_info().rss - rss_before) / 2**20, "RSS delta"


def frame_cache_modes(backend: str) -> tuple[bool, ...]:
    """CPU backends run with and without the frame cache; GPU backends on whole windows."""
    cpu = backend == "onnxruntime-cpu" or (backend == "torch" and not torch.cuda.is_available())
    return (True, False) if cpu else (False,)


class StreamFeed:
    """Successive batches of ``batch`` consecutive windows over one long random pose sequence: what
    a live stream (batch 1) or an offline clip (batch B) hands the engine, call after call."""

    def __init__(self, window: int, joints: int, batch: int, calls: int, seed: int = 0):
        self.window, self.batch, self.calls = window, batch, calls
        frames = window + batch * calls
        self.sequence = np.random.default_rng(seed).normal(0, 0.3, (frames, joints, 2)).astype(np.float32)
        self.call = 0

    def __call__(self) -> np.ndarray:
        start = self.call % self.calls * self.batch
        self.call += 1
        windows = target_windows(self.sequence[start:start + self.window + self.batch - 1], self.window)
        return np.array(windows[self.window - 1:])  # a writable copy of the full windows, as the live ring holds them


def warm_up(engine, feed: StreamFeed, warmup: int, max_seconds: float) -> None:
    """One-off work (allocations, lazy initialisation, CUDA graph capture) before timing: at least one
    run and at most ``warmup`` runs or ``max_seconds``, so slow official-size models stay quick."""
    deadline = time.perf_counter() + max_seconds
    for _ in range(max(1, warmup)):
        engine.run(feed())
        if time.perf_counter() > deadline:
            break


def interleaved_times(engines: list, feeds: list[StreamFeed], iterations: int, max_seconds: float,
                      rounds: int = 10) -> list[np.ndarray]:
    """Latencies (s) of each ``engine.run(feed())``, measured in alternating rounds.

    A shared machine's load comes in bursts; timing the engines one after the other would let a
    burst land on one of them and skew the ratios between them. Each engine gets at most
    ``iterations`` runs or ``max_seconds`` of runs (at least 3). Making the input is not timed.
    """
    times: list[list[float]] = [[] for _ in engines]
    per_round = max(1, -(-iterations // rounds))
    while True:
        active = [i for i, t in enumerate(times) if len(t) < iterations and (len(t) < 3 or sum(t) < max_seconds)]
        if not active:
            return [np.array(t) for t in times]
        for i in active:
            for _ in range(per_round):
                windows = feeds[i]()
                start = time.perf_counter()
                engines[i].run(windows)
                times[i].append(time.perf_counter() - start)


def benchmark(models: dict[str, torch.nn.Module], backends: list[str], *, batches=(1, 8), threads: int = 2,
              iterations: int = 300, warmup: int = 20, max_seconds: float = 20.0,
              cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Measure each model and its unpruned twin on each backend; returns a JSON-ready report.

    Every engine is loaded (and its memory read) first; then, batch size by batch size, all engines
    are timed together in alternating rounds (:func:`interleaved_times`).
    """
    for backend in backends:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    torch.set_num_threads(threads)
    measured = {name: variants(model) for name, model in models.items()}
    jobs = [(name, variant, backend, cached) for name, group in measured.items() for variant, model in group.items()
            for backend in backends for cached in frame_cache_modes(backend) if has_frame_split(model) or not cached]
    calls = iterations + warmup + 1  # distinct batches per feed: enough that no call repeats one
    loaded, skipped = [], {}
    results = []
    with tempfile.TemporaryDirectory(prefix="hotstream-bench-") as tmp:
        for name, variant, backend, cached in tqdm(jobs, desc="load", unit="engine", disable=not progress):
            reason = unavailable_reason(backend)
            if reason:
                skipped[backend] = reason
                continue
            model = measured[name][variant]
            weights = Path(tmp) / f"{name}-{variant}.safetensors"
            save_checkpoint(weights, model)
            options = dict(backend=backend, threads=threads, cache_dir=cache_dir or Path(tmp) / "cache")
            if backend != "tensorrt":
                options["frame_cache"] = cached
            load_engine(weights, **options)  # one-off work (ONNX export, TensorRT build, imports) off the books
            _release_freed_memory()
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            rss_before = psutil.Process().memory_info().rss
            engine = load_engine(weights, **options)
            c = model.config
            feeds = {b: StreamFeed(c.num_frames, c.num_joints, b, calls) for b in batches}
            memory = {}
            for batch in batches:
                warm_up(engine, feeds[batch], warmup, max_seconds / 4)
                memory[batch] = _memory_mb(backend, rss_before)
            loaded.append((name, variant, backend, cached, model, engine, feeds, memory, count_flops(model)))
        for batch in tqdm(batches, desc="time", unit="batch size", disable=not progress):
            times = interleaved_times([e[5] for e in loaded], [e[6][batch] for e in loaded], iterations, max_seconds)
            for (name, variant, backend, cached, model, _, _, memory, flops), t in zip(loaded, times):
                p50, p95, p99 = np.percentile(t, [50, 95, 99]) * 1e3
                results.append(Measurement(name, variant, backend, cached, batch, len(t), float(p50), float(p95),
                                           float(p99), float(batch / t.mean()), flops / 1e9,
                                           count_params(model), *memory[batch]))
        del loaded
    report = {"machine": machine_info(threads), "results": [asdict(r) for r in results], "skipped": skipped}
    report["ratios"] = speed_ratios(results)
    return report


# A ratio of two medians of fewer timed runs than this means little on a shared machine (p50
# moves by +-20 % from run to run; ``--iters 20`` printed ratios that contradicted each other).
MIN_RUNS_FOR_RATIO = 100


def speed_ratios(results: list[Measurement]) -> list[dict]:
    """Batch-1 p50 ratios, with and without the frame cache: TPC vs unpruned per backend, each
    backend vs PyTorch eager per variant, and the frame cache vs whole windows. ``speedup`` is
    None when either side had fewer than ``MIN_RUNS_FOR_RATIO`` timed runs (``runs`` says how many)."""
    by_key = {(r.model, r.variant, r.backend, r.frame_cache): r for r in results if r.batch == 1}
    ratios = []

    def add(model: str, what: str, slower: Measurement, faster: Measurement) -> None:
        runs = min(slower.iterations, faster.iterations)
        ratios.append({"model": model, "what": what, "runs": runs,
                       "speedup": slower.p50_ms / faster.p50_ms if runs >= MIN_RUNS_FOR_RATIO else None})

    for (model, variant, backend, cached), r in by_key.items():
        mode = "frame cache" if cached else "whole windows"
        if variant == "tpc" and (twin := by_key.get((model, "unpruned", backend, cached))):
            add(model, f"TPC vs unpruned ({backend}, {mode})", twin, r)
        if backend != "torch" and (eager := by_key.get((model, variant, "torch", cached))):
            add(model, f"{backend} vs torch ({variant}, {mode})", eager, r)
        if cached and (whole := by_key.get((model, variant, backend, False))):
            add(model, f"frame cache vs whole windows ({backend}, {variant})", whole, r)
    return ratios


def to_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['logical_cores']} logical / {m['physical_cores']} physical cores, "
             f"{m['threads']} threads, load average {m['load_average_1m']:.2f}, {m['os']}; "
             f"torch {m['torch']}, onnxruntime {m['onnxruntime']}" + (f", GPU {m['gpu']}" if m["gpu"] else ""),
             "",
             "| model | variant | backend | frame cache | batch | p50 ms | p95 ms | p99 ms | windows/s | GFLOP/window | params | memory MB |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(f"| {r['model']} | {r['variant']} | {r['backend']} | {'yes' if r['frame_cache'] else 'no'} | "
                     f"{r['batch']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['windows_per_s']:.3g} | {r['gflops_per_window']:.2f} | {r['params'] / 1e6:.2f} M | "
                     f"{r['memory_mb']:.0f} |")
    if report["ratios"]:
        lines += ["", "| model | speed-up (batch 1, p50) | × |", "|---|---|---:|"]
        lines += [f"| {r['model']} | {r['what']} | "
                  + (f"{r['speedup']:.2f} |" if r["speedup"] is not None else f"too few runs ({r['runs']}) |")
                  for r in report["ratios"]]
        if any(r["speedup"] is None for r in report["ratios"]):
            lines += ["", f"A ratio needs at least {MIN_RUNS_FOR_RATIO} timed runs on each side (--iters, "
                      "--max-seconds): with fewer, the medians move too much for it to mean anything."]
    if report["skipped"]:
        lines += [""] + [f"Skipped {b}: {why}." for b, why in report["skipped"].items()]
    return "\n".join(lines) + "\n"


def models_to_bench(presets: list[str], weights: str | Path | None, seed: int = 0) -> dict[str, torch.nn.Module]:
    """A trained checkpoint by path, and/or seeded random models of named presets (speed does not
    depend on the weights)."""
    models = {}
    if weights is not None:
        models[Path(weights).stem], _ = load_model(weights)
    for name in presets:
        torch.manual_seed(seed)
        models[name] = create_model(get_preset(name)).eval()
    return models


class OneByOne:
    """An engine called once per window, the way N single-person pipelines would call it."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def run(self, windows: np.ndarray) -> list:
        return [self.engine.run(window[None]) for window in windows]


class PeopleFeed:
    """Each call: the next window of each of ``people`` independent live streams (one per person)."""

    def __init__(self, window: int, joints: int, people: int, calls: int) -> None:
        self.streams = [StreamFeed(window, joints, 1, calls, seed=person) for person in range(people)]

    def __call__(self) -> np.ndarray:
        return np.concatenate([stream() for stream in self.streams])


def people_cost(weights: str | Path | None, backend: str, people=(1, 2, 4), *, threads: int = 2,
                iterations: int = 300, warmup: int = 20, max_seconds: float = 20.0) -> dict:
    """The lifter's time per frame with N people in view: one engine call for all N windows (what
    the live pipeline does) against N calls of one window each, timed in alternating rounds on two
    engines of the same weights (each with its own frame cache, if the backend has one)."""
    batched, one_by_one = (load_engine(weights, backend=backend, threads=threads) for _ in range(2))
    rows = []
    for n in tqdm(people, desc="people"):
        feeds = [PeopleFeed(batched.window, NUM_JOINTS, n, iterations + warmup + 1) for _ in range(2)]
        engines = [batched, OneByOne(one_by_one)]
        for engine, feed in zip(engines, feeds):
            warm_up(engine, feed, warmup, max_seconds / 4)
        together, apart = interleaved_times(engines, feeds, iterations, max_seconds)
        p50, p99 = (np.percentile(together, [50, 99]) * 1e3).tolist()
        q50, q99 = (np.percentile(apart, [50, 99]) * 1e3).tolist()
        rows.append({"people": n, "one_call_p50_ms": p50, "one_call_p99_ms": p99, "calls_each_p50_ms": q50,
                     "calls_each_p99_ms": q99, "runs": int(min(len(together), len(apart))), "speedup": q50 / p50})
    return {"machine": machine_info(threads), "engine": batched.describe(), "people": rows}


def people_markdown(report: dict) -> str:
    m, e = report["machine"], report["engine"]
    lines = [f"Lifter per frame with N people: {e.get('preset') or e['model']} on {e['backend']}, {m['threads']} threads, "
             f"{m['cpu']}, load average {m['load_average_1m']:.2f}", "",
             "| people | one call, p50 ms | p99 ms | a call each, p50 ms | p99 ms | one call faster by | runs |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['people']} | {r['one_call_p50_ms']:.2f} | {r['one_call_p99_ms']:.2f} | {r['calls_each_p50_ms']:.2f} | "
              f"{r['calls_each_p99_ms']:.2f} | {r['speedup']:.2f}x | {r['runs']} |" for r in report["people"]]
    return "\n".join(lines) + "\n"


def humanoid_cost(iterations: int = 1000, seed: int = 0) -> dict:
    """What :func:`engines.humanoid.solve` (and the quaternions a VMC sink sends) costs per live
    pose, in ms: the solver runs once per published frame in the VMC sink's thread."""
    from engines import humanoid

    poses = np.random.default_rng(seed).normal(0, 0.3, (iterations + 1, 1, 17, 3))
    humanoid.solve(poses[0])  # one-off imports and allocations, off the books
    times = []
    for pose in poses[1:]:
        start = time.perf_counter()
        humanoid.solve(pose).local_quaternions()
        times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(times, [50, 99]) * 1e3
    return {"humanoid_solve_ms": {"p50": float(p50), "p99": float(p99), "iterations": iterations},
            "load_average_1m": os.getloadavg()[0]}
