"""ONNX Runtime backend (CPU or CUDA execution provider) for exported lifter graphs.

It runs either one whole-window graph, or the split pair (``frames`` + ``tokens`` graphs, see
``engines.runtime.export``) behind a frame-token cache. Threads are set explicitly: on a small CPU the
default (one thread per core plus spinning inter-op threads) competes with MediaPipe for the same
cores. The frame graph gets one thread: it encodes about one frame per window, and a second
thread pool would spin against the first.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from engines.runtime.engine import Engine

PROVIDERS = {"onnxruntime-cpu": ["CPUExecutionProvider"],
             "onnxruntime-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
GRAPH_SETS = ({"window"}, {"frames", "tokens"})


def session_options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return options


def graph_feed(session, **arrays: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays a session's graph takes, by name: an exporter drops an input the model does not
    read (a TCN's ``target``)."""
    return {i.name: arrays[i.name] for i in session.get_inputs()}


class OnnxRuntimeEngine(Engine):
    def __init__(self, graphs: dict[str, str | Path], config, *, backend: str = "onnxruntime-cpu",
                 lookahead: int = 0, threads: int | None = None, **info):
        """``graphs``: ``{"window": path}``, or ``{"frames": path, "tokens": path}`` to run with a frame cache."""
        super().__init__(config, lookahead, **info)
        if backend not in PROVIDERS:
            raise ValueError(f"unknown ONNX Runtime backend {backend!r}; choose one of {', '.join(PROVIDERS)}")
        if set(graphs) not in GRAPH_SETS:
            raise ValueError(f"graphs must be 'window', or 'frames' and 'tokens'; got {', '.join(graphs)}")
        self.backend = backend
        self.graphs = {kind: Path(path) for kind, path in graphs.items()}
        self.threads = threads
        self.sessions = {kind: ort.InferenceSession(str(path), session_options(1 if kind == "frames" else threads),
                                                    providers=PROVIDERS[backend])
                         for kind, path in self.graphs.items()}
        if backend == "onnxruntime-cuda" and any("CUDAExecutionProvider" not in s.get_providers()
                                                 for s in self.sessions.values()):
            raise RuntimeError("ONNX Runtime could not start its CUDA execution provider")
        if "frames" in self.graphs:
            self.use_frame_cache()

    def _describe_backend(self) -> dict:
        session = next(iter(self.sessions.values()))
        return {"onnx": {kind: str(path) for kind, path in self.graphs.items()},
                "providers": session.get_providers(), "threads": self.threads, "onnxruntime": ort.__version__}

    def _run(self, windows: np.ndarray) -> np.ndarray:
        session = self.sessions["window"]
        return session.run(["pose3d"], graph_feed(session, pose2d=windows, target=self.targets(windows.shape[0])))[0]

    def _encode_frames(self, frames: np.ndarray) -> np.ndarray:
        return self.sessions["frames"].run(["frame_tokens"], {"pose2d": frames})[0]

    def _run_tokens(self, frame_tokens: np.ndarray) -> np.ndarray:
        feed = {"frame_tokens": frame_tokens, "target": self.targets(frame_tokens.shape[0])}
        return self.sessions["tokens"].run(["pose3d"], feed)[0]
