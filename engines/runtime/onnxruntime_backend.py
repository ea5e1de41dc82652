"""ONNX Runtime backend (CPU or CUDA execution provider) for an exported lifter graph.

Threads are set explicitly: on a small CPU the default (one thread per core plus spinning
inter-op threads) competes with MediaPipe for the same cores.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from engines.hot import HoTConfig
from engines.runtime.engine import Engine

PROVIDERS = {"onnxruntime-cpu": ["CPUExecutionProvider"],
             "onnxruntime-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def session_options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return options


class OnnxRuntimeEngine(Engine):
    def __init__(self, onnx_path: str | Path, config: HoTConfig, *, backend: str = "onnxruntime-cpu",
                 lookahead: int = 0, threads: int | None = None, **info):
        super().__init__(config, lookahead, **info)
        if backend not in PROVIDERS:
            raise ValueError(f"unknown ONNX Runtime backend {backend!r}; choose one of {', '.join(PROVIDERS)}")
        self.backend = backend
        self.onnx_path = Path(onnx_path)
        self.threads = threads
        self.session = ort.InferenceSession(str(self.onnx_path), session_options(threads),
                                            providers=PROVIDERS[backend])
        if backend == "onnxruntime-cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise RuntimeError("ONNX Runtime could not start its CUDA execution provider")

    def _describe_backend(self) -> dict:
        return {"onnx": str(self.onnx_path), "providers": self.session.get_providers(),
                "threads": self.threads, "onnxruntime": ort.__version__}

    def _run(self, windows: np.ndarray) -> np.ndarray:
        feed = {"pose2d": windows, "target": self.targets(windows.shape[0])}
        return self.session.run(["pose3d"], feed)[0]
