"""``load_engine``: pick a backend (or take the one asked for) and build a ready-to-run engine.

``auto`` tries TensorRT, ONNX Runtime CUDA, ONNX Runtime CPU, then PyTorch, and logs which one
it chose and why each earlier one was skipped. ONNX-based backends export the checkpoint once
into the cache directory (keyed by checkpoint sha256, export options and code version) unless an
``.onnx`` file is given: TensorRT gets the portable whole-window graph; ONNX Runtime gets graphs
with its fused attention op, split in two for the frame-token cache (on by default for CPU
backends when the architecture splits; ``frame_cache=False`` runs whole windows).
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from engines.checkpoint import DEFAULT_WEIGHTS, file_sha256, load_model
from engines.runtime.cache import default_cache_dir, onnx_cache_path
from engines.runtime.engine import Engine
from engines.runtime.graph import has_frame_split

log = logging.getLogger("hotstream.engines")

BACKENDS = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu", "torch")
# Keyword options each backend accepts beyond the common ones.
BACKEND_OPTIONS = {"tensorrt": {"fp16", "max_batch", "rebuild"}, "onnxruntime-cuda": {"frame_cache"},
                   "onnxruntime-cpu": {"frame_cache"}, "torch": {"compile", "fp16", "cuda_graph", "device", "frame_cache"}}


def unavailable_reason(backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or None if it can be tried."""
    if backend == "torch":
        return None
    if backend == "tensorrt":
        if importlib.util.find_spec("tensorrt") is None:
            return "the tensorrt Python package is not installed"
        import torch

        return None if torch.cuda.is_available() else "no CUDA GPU is visible"
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed"
    if backend == "onnxruntime-cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return "this onnxruntime build has no CUDAExecutionProvider (install onnxruntime-gpu)"
    return None


class _Source:
    """The checkpoint (and optional pre-exported ONNX file) an engine is built from, loaded lazily."""

    def __init__(self, weights: str | Path | None, onnx: str | Path | None, cache_dir: str | Path | None):
        # An ONNX file without a checkpoint cannot run on torch: the default checkpoint may be another model.
        self.torch_reason = "an ONNX file was given without a checkpoint" if onnx and weights is None else None
        self.weights = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        self.onnx = Path(onnx) if onnx is not None else None
        if self.onnx is not None and not self.onnx.is_file():
            raise FileNotFoundError(f"{self.onnx}: ONNX file not found")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._model = self._sha = None

    @property
    def sha256(self) -> str:
        if self._sha is None:
            self._sha = file_sha256(self.weights)
        return self._sha

    def model(self):
        if self._model is None:
            self._model, _ = load_model(self.weights)
            self._sha = file_sha256(self.weights)
        return self._model

    def info(self) -> dict:
        return {"weights": self.weights, "weights_sha256": self.sha256}

    def onnx_graphs(self, kinds: tuple[str, ...], attention: str):
        """(paths by graph kind, config, info): the ONNX file given (a whole-window graph), or the
        cached export of the checkpoint."""
        from engines.runtime.export import export_onnx, read_metadata

        if self.onnx is not None:
            config, props = read_metadata(self.onnx)
            kind = props.get("hotstream.graph", "window")
            if kinds != ("window",) or kind != "window":
                raise ValueError(f"{self.onnx}: a {kind!r} graph was given; this engine needs {' + '.join(kinds)} "
                                 "(give a whole-window graph, and frame_cache=False)")
            return {"window": self.onnx}, config, {"weights": None, "weights_sha256": props.get("hotstream.checkpoint_sha256")}
        model = self.model()
        paths = {}
        for kind in kinds:
            options = {"graph": kind, "attn": attention, "batch": "dyn", "opset": 17, "slim": 1}
            paths[kind] = onnx_cache_path(self.cache_dir, self.sha256, options)
            if not paths[kind].is_file():
                log.info("exporting %s to %s (first use of this checkpoint)", self.weights, paths[kind])
                export_onnx(model, paths[kind], graph=kind, attention=attention, weights_sha256=self.sha256)
        return paths, model.config, self.info()


def _build(backend: str, source: _Source, lookahead: int, threads: int | None, options: dict) -> Engine:
    if backend == "torch":
        from engines.runtime.torch_backend import TorchEngine

        return TorchEngine(source.model(), lookahead=lookahead, threads=threads, **options, **source.info())
    if backend == "tensorrt":
        from engines.runtime.tensorrt_backend import TensorRTEngine

        paths, config, info = source.onnx_graphs(("window",), attention="onnx")
        return TensorRTEngine(paths["window"], config, lookahead=lookahead, cache_dir=source.cache_dir, **options, **info)
    from engines.runtime.onnxruntime_backend import OnnxRuntimeEngine

    frame_cache = options.get("frame_cache")
    if frame_cache is None:  # default: on for the CPU, for a checkpoint (a given ONNX file is one whole graph) that splits
        frame_cache = backend == "onnxruntime-cpu" and source.onnx is None and has_frame_split(source.model())
    kinds = ("frames", "tokens") if frame_cache else ("window",)
    paths, config, info = source.onnx_graphs(kinds, attention="onnxruntime")
    return OnnxRuntimeEngine(paths, config, backend=backend, lookahead=lookahead, threads=threads, **info)


def load_engine(weights: str | Path | None = None, backend: str = "auto", lookahead: int = 0,
                onnx: str | Path | None = None, cache_dir: str | Path | None = None,
                threads: int | None = None, flip: bool = False, **options) -> Engine:
    """A lifting engine for ``weights`` (default: the shipped live model) on ``backend``.

    ``flip`` turns on flip test-time augmentation: every window is also lifted mirrored (left
    and right swapped) and the two poses are averaged, at twice the cost.

    ``options`` go to the backend's constructor (torch: ``compile``, ``fp16``, ``cuda_graph``,
    ``device``, ``frame_cache``; onnxruntime-*: ``frame_cache``; tensorrt: ``fp16``,
    ``max_batch``, ``rebuild``). ``frame_cache`` defaults to on for CPU backends.
    """
    engine = _load(weights, backend, lookahead, onnx, cache_dir, threads, options)
    engine.flip = flip
    return engine


def _load(weights, backend: str, lookahead: int, onnx, cache_dir, threads: int | None, options: dict) -> Engine:
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS)}")
    source = _Source(weights, onnx, cache_dir)
    if backend != "auto":
        reason = source.torch_reason if backend == "torch" else unavailable_reason(backend)
        if reason:
            raise RuntimeError(f"backend {backend!r} is not available: {reason}")
        unknown = set(options) - BACKEND_OPTIONS[backend]
        if unknown:
            raise ValueError(f"backend {backend!r} has no option(s) {', '.join(sorted(unknown))}")
        engine = _build(backend, source, lookahead, threads, options)
        log.info("lifting engine: %s (requested)", backend)
        return engine
    if onnx is None:
        source.model()  # a bad checkpoint is the user's error, not a reason to try the next backend
    skipped = []  # one log line in all: which backend runs, and which were not there
    for candidate in BACKENDS:
        reason = source.torch_reason if candidate == "torch" else unavailable_reason(candidate)
        if reason is None:
            try:
                engine = _build(candidate, source, lookahead, threads, {k: v for k, v in options.items() if k in BACKEND_OPTIONS[candidate]})
            except (RuntimeError, OSError) as e:
                reason = f"failed to start ({e})"
                log.warning("auto backend: %s %s", candidate, reason)
            else:
                log.info("lifting engine: %s (auto%s)", candidate,
                         f"; not available here: {', '.join(name for name, _ in skipped)}" if skipped else "")
                return engine
        skipped.append((candidate, reason))
        log.debug("auto backend: skipping %s: %s", candidate, reason)
    raise RuntimeError("no lifting backend could start: " + "; ".join(f"{name}: {why}" for name, why in skipped))
