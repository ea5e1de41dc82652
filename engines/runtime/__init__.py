"""Lifting engines: one interface (:class:`Engine`) over TensorRT, ONNX Runtime and PyTorch.

>>> engine = load_engine()                      # shipped live model, best available backend
>>> pose3d = engine.run(windows)                # (B, T, 17, 2) -> (B, 17, 3)
"""
from engines.runtime.engine import Engine
from engines.runtime.loader import BACKENDS, load_engine, unavailable_reason

__all__ = ["BACKENDS", "Engine", "load_engine", "unavailable_reason"]
