"""TensorRT backend: build (or reuse) a serialised plan from the ONNX graph and run it on CUDA.

Plans are specific to the TensorRT version and the GPU, so they are cached under a key of ONNX
sha256, TensorRT version, GPU name, precision and maximum batch (see ``cache.py``); a plan built
for something else is rebuilt, or refused with ``rebuild=False``. A timing cache per TensorRT
version and GPU makes rebuilds fast.

With fp16, the layers of the HoT module itself (token pruning, index arithmetic, the target-frame
gather: ONNX nodes named ``/<op>``, outside any submodule) and every normalisation layer are pinned to fp32: the
discrete frame selection must not depend on half-precision rounding, and LayerNorm in fp16 can
overflow. I/O buffers are torch CUDA tensors allocated once for the maximum batch.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import tensorrt as trt
import torch

from engines.checkpoint import file_sha256
from engines.runtime.cache import atomic_write_bytes, plan_cache_path, plan_key, stale_reasons, write_plan_key
from engines.runtime.engine import Engine
from engines.runtime.export import HOT_LEVEL_NODE

log = logging.getLogger("hotstream.engines")
_TRT_LOGGER = trt.Logger(trt.Logger.WARNING)


def gpu_name(device: int = 0) -> str:
    return torch.cuda.get_device_name(device)


def _keep_fp32(network: trt.INetworkDefinition) -> int:
    """Pin pruning/index layers and normalisations to fp32; returns how many layers were pinned."""
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if HOT_LEVEL_NODE.match(layer.name) or layer.type == trt.LayerType.NORMALIZATION:
            if layer.type in (trt.LayerType.CONSTANT, trt.LayerType.SHAPE):
                continue
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                if layer.get_output_type(j) in (trt.float32, trt.float16):
                    layer.set_output_type(j, trt.float32)
            pinned += 1
    return pinned


def build_plan(onnx_path: str | Path, config, *, fp16: bool = True, max_batch: int = 8,
               opt_batch: int = 1, timing_cache: Path | None = None, workspace_mb: int = 1024) -> bytes:
    """Parse the ONNX graph and build a serialised TensorRT plan with a min/opt/max batch profile."""
    builder = trt.Builder(_TRT_LOGGER)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, _TRT_LOGGER)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{onnx_path}: TensorRT cannot parse the ONNX graph: {errors}")
    build = builder.create_builder_config()
    build.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    build.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32: TF32 matmuls would perturb the frame selection
    if fp16:
        build.set_flag(trt.BuilderFlag.FP16)
        build.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        log.info("tensorrt: %d layers pinned to fp32", _keep_fp32(network))
    window = (config.num_frames, config.num_joints, 2)
    profile = builder.create_optimization_profile()
    profile.set_shape("pose2d", (1, *window), (opt_batch, *window), (max_batch, *window))
    profile.set_shape("target", (1,), (opt_batch,), (max_batch,))
    build.add_optimization_profile(profile)
    cache_bytes = timing_cache.read_bytes() if timing_cache is not None and timing_cache.is_file() else b""
    build.set_timing_cache(build.create_timing_cache(cache_bytes), ignore_mismatch=False)
    plan = builder.build_serialized_network(network, build)
    if plan is None:
        raise RuntimeError(f"{onnx_path}: TensorRT failed to build an engine (see the TensorRT log above)")
    if timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(build.get_timing_cache().serialize()))
    return bytes(plan)


def cached_plan(onnx_path: Path, config, cache_dir: Path, *, fp16: bool = True, max_batch: int = 8,
                rebuild: bool = True) -> Path:
    """Path of a current plan for this ONNX file on this GPU, building it when missing or stale."""
    key = plan_key(file_sha256(onnx_path), trt.__version__, gpu_name(), "fp16" if fp16 else "fp32", max_batch)
    plan = plan_cache_path(cache_dir, key)
    reasons = stale_reasons(plan, key)
    if reasons:
        if not rebuild and plan.is_file():
            raise RuntimeError(f"cached TensorRT plan {plan} is stale ({'; '.join(reasons)}) and rebuild is off")
        if not rebuild:
            raise RuntimeError(f"no TensorRT plan at {plan} and rebuild is off")
        log.info("building TensorRT plan %s (%s)", plan, "; ".join(reasons))
        timing = cache_dir / "tensorrt" / re.sub(r"[^A-Za-z0-9.]+", "_", f"timing-{trt.__version__}-{gpu_name()}.cache")
        atomic_write_bytes(plan, build_plan(onnx_path, config, fp16=fp16, max_batch=max_batch, timing_cache=timing))
        write_plan_key(plan, key)
    return plan


class TensorRTEngine(Engine):
    backend = "tensorrt"

    def __init__(self, onnx_path: str | Path, config, *, lookahead: int = 0, cache_dir: Path,
                 fp16: bool = True, max_batch: int = 8, rebuild: bool = True, **info):
        super().__init__(config, lookahead, **info)
        self.onnx_path, self.fp16, self.max_batch = Path(onnx_path), fp16, max_batch
        self.plan_path = cached_plan(self.onnx_path, config, Path(cache_dir), fp16=fp16, max_batch=max_batch,
                                     rebuild=rebuild)
        self.runtime = trt.Runtime(_TRT_LOGGER)
        self.engine = self.runtime.deserialize_cuda_engine(self.plan_path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{self.plan_path}: TensorRT could not deserialise the plan")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.buffers: dict[str, torch.Tensor] = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = (max_batch, *tuple(self.engine.get_tensor_shape(name))[1:])
            dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
            self.buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.buffers["target"].fill_(self.target)
        self._batch = 0

    def _describe_backend(self) -> dict:
        return {"onnx": str(self.onnx_path), "plan": str(self.plan_path), "fp16": self.fp16,
                "max_batch": self.max_batch, "gpu": gpu_name(), "tensorrt": trt.__version__}

    def _run(self, windows: np.ndarray) -> np.ndarray:
        b = windows.shape[0]
        if b > self.max_batch:
            return np.concatenate([self._run(windows[i:i + self.max_batch]) for i in range(0, b, self.max_batch)])
        if b != self._batch:
            self.context.set_input_shape("pose2d", (b, *windows.shape[1:]))
            self.context.set_input_shape("target", (b,))
            self._batch = b
        with torch.cuda.stream(self.stream):
            self.buffers["pose2d"][:b].copy_(torch.from_numpy(windows), non_blocking=False)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
            out = self.buffers["pose3d"][:b].cpu()
        self.stream.synchronize()
        return out.numpy()
