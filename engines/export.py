"""Export a lifter to ONNX, and check the exported graph.

The graph is ``pose2d (B, T, 17, 2) float32, target (B,) int64 -> pose3d (B, 17, 3) float32``.
The target frame is an input, so one file serves every lookahead (target = T - 1 - lookahead).
The window length is static (the model's temporal embedding fixes it); the batch is dynamic
unless a fixed batch is asked for. Opset 17 keeps LayerNorm a single node, which ONNX Runtime and
TensorRT both fuse. The graph stays fp32 throughout; reduced precision is the runtime's choice
(TensorRT fp16 keeps pruning in fp32 only if the graph says so, see docs/tensorrt.md).

Everything a consumer needs to feed the graph correctly travels in its ``metadata_props``:
model config, window length, default lookahead, joint order, the 2D normalisation formula and the
checkpoint's sha256.
"""
from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from engines.hot import HoT, HoTConfig
from engines.runtime.cache import atomic_write_bytes
from engines.runtime.graph import TargetFrameLifter
from engines.skeleton import JOINT_NAMES

log = logging.getLogger("hotstream.engines")

OPSET = 17
INPUTS = ("pose2d", "target")
OUTPUT = "pose3d"
NORMALIZATION = "u = x / w * 2 - 1, v = y / w * 2 - h / w (x, y pixels; w, h image width and height)"


def _trace(lifter: TargetFrameLifter, batch: int | None, lookahead: int, opset: int) -> onnx.ModelProto:
    c = lifter.config
    example_batch = batch or 2
    pose2d = torch.randn(example_batch, c.num_frames, c.num_joints, 2, generator=torch.Generator().manual_seed(0))
    target = torch.full((example_batch,), c.target_index(lookahead), dtype=torch.long)
    dynamic = None if batch else {name: {0: "batch"} for name in (*INPUTS, OUTPUT)}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo (which needs onnxscript); it
        # produces the cleaner graph for this model, and says so on every call.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # shape checks become constants: the window is static
        torch.onnx.export(lifter, (pose2d, target), buf, input_names=list(INPUTS), output_names=[OUTPUT],
                          opset_version=opset, dynamo=False, dynamic_axes=dynamic, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def _slim(graph: onnx.ModelProto) -> onnx.ModelProto:
    import onnxslim

    return onnxslim.slim(graph)


def metadata(config: HoTConfig, lookahead: int, weights_sha256: str | None) -> dict[str, str]:
    return {
        "hotstream.config": json.dumps(config.to_dict()),
        "hotstream.num_frames": str(config.num_frames),
        "hotstream.lookahead_default": str(lookahead),
        "hotstream.target": "target[b] = num_frames - 1 - lookahead",
        "hotstream.joints": json.dumps(JOINT_NAMES),
        "hotstream.normalization": NORMALIZATION,
        "hotstream.output": "pose3d: metres, root-relative, camera coordinates (x right, y down, z forward)",
        "hotstream.checkpoint_sha256": weights_sha256 or "",
    }


def read_metadata(path: str | Path) -> tuple[HoTConfig, dict[str, str]]:
    """The model config and all hotstream metadata of an exported graph."""
    graph = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in graph.metadata_props}
    if "hotstream.config" not in props:
        raise ValueError(f"{path}: not a hotstream ONNX export (no hotstream.config metadata)")
    return HoTConfig(**json.loads(props["hotstream.config"])), props


def export_onnx(model: HoT, out: str | Path, *, batch: int | None = None, lookahead: int = 0,
                simplify: bool = True, weights_sha256: str | None = None, opset: int = OPSET) -> dict:
    """Export ``model`` to ``out``; returns a report (node counts and sizes with and without onnxslim)."""
    if opset < 17:
        raise ValueError(f"opset {opset} < 17: LayerNorm would be split into primitive ops")
    if batch is not None and batch < 1:
        raise ValueError(f"batch must be >= 1 or None (dynamic), got {batch}")
    config = model.config
    config.target_index(lookahead)  # validates lookahead
    graph = _trace(TargetFrameLifter(model).eval(), batch, lookahead, opset)
    report = {"opset": opset, "batch": batch or "dynamic", "nodes": len(graph.graph.node),
              "bytes": graph.ByteSize(), "simplified": False}
    if simplify:
        slim = _slim(graph)
        report.update(nodes_slim=len(slim.graph.node), bytes_slim=slim.ByteSize())
        if len(slim.graph.node) <= len(graph.graph.node):
            graph, report["simplified"] = slim, True
    onnx.helper.set_model_props(graph, metadata(config, lookahead, weights_sha256))
    onnx.checker.check_model(graph, full_check=True)
    atomic_write_bytes(Path(out), graph.SerializeToString())
    report["path"] = str(out)
    log.info("exported %s: %s", out, report)
    return report
