"""Export a lifter to ONNX, and check the exported graph.

The graph is ``pose2d (B, T, 17, 2) float32, target (B,) int64 -> pose3d (B, 17, 3) float32``.
The target frame is an input, so one file serves every lookahead (target = T - 1 - lookahead).
The window length is static (the model's temporal embedding fixes it); the batch is dynamic
unless a fixed batch is asked for. Opset 17 keeps LayerNorm a single node, which ONNX Runtime and
TensorRT both fuse. The graph stays fp32 throughout; reduced precision is the runtime's choice
(the TensorRT backend's fp16 plans pin token pruning to fp32, see docs/tensorrt.md).

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
from google.protobuf.message import DecodeError

from engines.hot import HoT, HoTConfig
from engines.runtime.cache import atomic_write_bytes
from engines.runtime.graph import TargetFrameLifter
from engines.skeleton import JOINT_NAMES

log = logging.getLogger("hotstream.engines")

OPSET = 17
INPUTS = ("pose2d", "target")
OUTPUT = "pose3d"
NORMALIZATION = "u = x / w * 2 - 1, v = y / w * 2 - h / w (x, y pixels; w, h image width and height)"


def _trace(module: torch.nn.Module, config: HoTConfig, batch: int | None, lookahead: int, opset: int,
           outputs: tuple[str, ...] = (OUTPUT,)) -> onnx.ModelProto:
    example_batch = batch or 2
    pose2d = torch.randn(example_batch, config.num_frames, config.num_joints, 2,
                         generator=torch.Generator().manual_seed(0))
    target = torch.full((example_batch,), config.target_index(lookahead), dtype=torch.long)
    dynamic = None if batch else {name: {0: "batch"} for name in (*INPUTS, *outputs)}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo (which needs onnxscript); it
        # produces the cleaner graph for this model, and says so on every call.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # shape checks become constants: the window is static
        torch.onnx.export(module, (pose2d, target), buf, input_names=list(INPUTS), output_names=list(outputs),
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
    try:
        graph = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError) as err:
        raise ValueError(f"{path}: not a readable ONNX file ({err})") from None
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
    graph = _trace(TargetFrameLifter(model).eval(), config, batch, lookahead, opset)
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


# --- checks ----------------------------------------------------------------------------------------

TRT_OPS_FILE = Path(__file__).resolve().parent / "runtime" / "tensorrt_onnx_ops.txt"


def tensorrt_supported_ops() -> set[str]:
    lines = TRT_OPS_FILE.read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def tensorrt_problems(graph: onnx.ModelProto) -> list[str]:
    """Nodes TensorRT's ONNX parser would reject: ops off its support list, or restricted uses."""
    supported = tensorrt_supported_ops()
    problems = sorted({f"{n.op_type} is not supported" for n in graph.graph.node if n.op_type not in supported})
    for node in graph.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "TopK" and attrs.get("sorted", 1) != 1:
            problems.append(f"{node.name}: TopK with sorted=0")
        if node.op_type == "LayerNormalization" and len([o for o in node.output if o]) > 1:
            problems.append(f"{node.name}: LayerNormalization with more than one output")
    return problems


class _KeptFrames(torch.nn.Module):
    """The pruning front-end alone: which frames each window keeps, to compare selections."""

    def __init__(self, model: HoT):
        super().__init__()
        self.model = model

    def forward(self, pose2d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(pose2d, target)[1]


def sliding_windows(sequence: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """(N, 17, 2) pose sequence -> (M, window, 17, 2) overlapping windows, as the live ring sees them."""
    if len(sequence) < window:
        raise ValueError(f"sequence of {len(sequence)} frames is shorter than the window ({window})")
    view = np.lib.stride_tricks.sliding_window_view(sequence, window, axis=0)[::stride]
    return np.ascontiguousarray(np.moveaxis(view, -1, 1), dtype=np.float32)


def verify_export(onnx_path: str | Path, model: HoT, windows: np.ndarray, *, lookahead: int = 0,
                  tolerance: float = 1e-4, threads: int | None = 1) -> dict:
    """Check an exported graph against its PyTorch model.

    Runs the ONNX checker, compares ONNX Runtime (CPU, fp32) with PyTorch on ``windows``, and
    lists nodes TensorRT would reject. Token pruning is a discrete choice: where the two runtimes
    keep different frames (a near-tie flipped by rounding) outputs may differ by more than any
    float tolerance, so those windows are counted (``selection_differs``) and the tolerance is
    applied to the others.
    """
    import onnxruntime as ort

    from engines.runtime.onnxruntime_backend import session_options

    graph = onnx.load(str(onnx_path))
    onnx.checker.check_model(graph, full_check=True)
    model = model.eval()
    config = model.config
    x = np.ascontiguousarray(windows, dtype=np.float32)
    target = np.full((len(x),), config.target_index(lookahead), dtype=np.int64)
    session = ort.InferenceSession(str(onnx_path), session_options(threads), providers=["CPUExecutionProvider"])
    step = graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value or len(x)  # a fixed-batch graph: chunks
    if len(x) % step:
        raise ValueError(f"{len(x)} windows do not split into the graph's fixed batch of {step}")
    got = np.concatenate([session.run([OUTPUT], {"pose2d": x[i:i + step], "target": target[i:i + step]})[0]
                          for i in range(0, len(x), step)])
    with torch.inference_mode():
        want = TargetFrameLifter(model)(torch.from_numpy(x), torch.from_numpy(target)).numpy()
        kept_torch = _KeptFrames(model)(torch.from_numpy(x), torch.from_numpy(target)).numpy()
    selector = _trace(_KeptFrames(model).eval(), config, None, lookahead, OPSET, outputs=("kept",))
    kept_ort = ort.InferenceSession(selector.SerializeToString(), session_options(threads),
                                    providers=["CPUExecutionProvider"]).run(None, {"pose2d": x, "target": target})[0]
    same = (kept_ort == kept_torch).all(1)
    err = np.abs(got - want).reshape(len(x), -1).max(1)
    max_err = float(err[same].max()) if same.any() else float("nan")
    return {"windows": len(x), "selection_differs": int((~same).sum()), "max_abs_err": max_err,
            "max_abs_err_all": float(err.max()), "tolerance": tolerance,
            "parity": bool(same.any() and max_err <= tolerance), "tensorrt_problems": tensorrt_problems(graph)}
