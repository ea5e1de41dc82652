"""Export a lifter to ONNX, and check the exported graph.

Three graphs can be exported from one model (``graph=``):

* ``window`` (the default, and what ``tools/export.py`` writes): ``pose2d (B, T, 17, 2) float32,
  target (B,) int64 -> pose3d (B, 17, 3) float32``.
* ``frames`` and ``tokens``: the same computation split in two (``engines.runtime.graph``),
  ``pose2d (N, 17, 2) -> frame_tokens (N, 17, C)`` and ``frame_tokens (B, T, 17, C), target ->
  pose3d``, for runtimes that cache frame tokens across overlapping windows.

The target frame is an input, so one file serves every lookahead (target = T - 1 - lookahead).
The window length is static (the model's temporal embedding fixes it); the batch is dynamic
unless a fixed batch is asked for. Opset 17 keeps LayerNorm a single node, which ONNX Runtime and
TensorRT both fuse. The graph stays fp32 throughout; reduced precision is the runtime's choice
(the TensorRT backend's fp16 plans pin token pruning to fp32, see docs/tensorrt.md).

``attention="onnx"`` writes self-attention in standard ONNX ops (portable; TensorRT fuses them
itself). ``attention="onnxruntime"`` writes each self-attention as ONNX Runtime's fused
``com.microsoft.Attention`` op instead: about 10% faster on CPU, but only ONNX Runtime runs it.

Everything a consumer needs to feed the graph correctly travels in its ``metadata_props``:
model config, graph kind, window length, default lookahead, joint order, the 2D normalisation
formula and the checkpoint's sha256.
"""
from __future__ import annotations

import copy
import io
import json
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from google.protobuf.message import DecodeError

from engines.models import arch_of, config_from_dict
from engines.models.hot import Attention, multi_head_attention
from engines.runtime.cache import atomic_write_bytes
from engines.runtime.graph import FrameEncoder, TargetFrameLifter, TokenLifter, has_frame_split
from engines.skeleton import JOINT_NAMES

log = logging.getLogger("hotstream.engines")

OPSET = 17
# graph kind -> (module, input names, output name)
GRAPHS = {"window": (TargetFrameLifter, ("pose2d", "target"), "pose3d"),
          "frames": (FrameEncoder, ("pose2d",), "frame_tokens"),
          "tokens": (TokenLifter, ("frame_tokens", "target"), "pose3d")}
ATTENTION = ("onnx", "onnxruntime")
# Nodes of the HoT module itself, outside any submodule: token pruning, index arithmetic, gathers.
HOT_LEVEL_NODE = re.compile(r"^/[^/]+$")
NORMALIZATION = "u = x / w * 2 - 1, v = y / w * 2 - h / w (x, y pixels; w, h image width and height)"


def _example_inputs(graph: str, model: torch.nn.Module, batch: int, lookahead: int) -> tuple[torch.Tensor, ...]:
    config = model.config
    rng = torch.Generator().manual_seed(0)
    target = torch.full((batch,), config.target_index(lookahead), dtype=torch.long)
    if graph == "frames":
        return (torch.randn(batch, config.num_joints, 2, generator=rng),)
    if graph == "tokens":
        return torch.randn(batch, config.num_frames, config.num_joints, model.token_dim, generator=rng), target
    return torch.randn(batch, config.num_frames, config.num_joints, 2, generator=rng), target


def _trace(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], input_names: tuple[str, ...],
           output_names: tuple[str, ...], dynamic_batch: bool, opset: int) -> onnx.ModelProto:
    dynamic = {name: {0: "batch"} for name in (*input_names, *output_names)} if dynamic_batch else None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo (which needs onnxscript); it
        # produces the cleaner graph for this model, and says so on every call.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # shape checks become constants: the window is static
        torch.onnx.export(module, inputs, buf, input_names=list(input_names), output_names=list(output_names),
                          opset_version=opset, dynamo=False, dynamic_axes=dynamic, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


class _FusedAttention(torch.autograd.Function):
    """QKV projection and :func:`multi_head_attention`; exports as ONNX Runtime's
    ``com.microsoft.Attention`` (projection, per-head attention and head merge in one op)."""

    @staticmethod
    def forward(ctx, x, qkv_weight, qkv_bias, num_heads: int):
        return multi_head_attention(x @ qkv_weight + qkv_bias, num_heads)

    @staticmethod
    def symbolic(g, x, qkv_weight, qkv_bias, num_heads: int):
        out = g.op("com.microsoft::Attention", x, qkv_weight, qkv_bias, num_heads_i=num_heads)
        out.setType(x.type())  # same shape as the input: lets ONNX Runtime fuse the LayerNorms around it
        return out


class _OnnxRuntimeAttention(torch.nn.Module):
    def __init__(self, attention: Attention):
        super().__init__()
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attention
        return a.proj(_FusedAttention.apply(x, a.qkv.weight.t(), a.qkv.bias, a.num_heads))


def with_onnxruntime_attention(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose self-attention modules (:class:`~engines.models.hot.Attention`)
    export as ``com.microsoft.Attention``; a model without any is exported as it is."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, Attention):
                setattr(parent, name, _OnnxRuntimeAttention(child))
    return model


def _slim(graph: onnx.ModelProto) -> onnx.ModelProto:
    import onnxslim

    return onnxslim.slim(graph)


def metadata(config, lookahead: int, weights_sha256: str | None, graph: str = "window",
             attention: str = "onnx") -> dict[str, str]:
    return {
        "hotstream.arch": arch_of(config),
        "hotstream.config": json.dumps(config.to_dict()),
        "hotstream.graph": graph,
        "hotstream.attention": attention,
        "hotstream.num_frames": str(config.num_frames),
        "hotstream.lookahead_default": str(lookahead),
        "hotstream.target": "target[b] = num_frames - 1 - lookahead",
        "hotstream.joints": json.dumps(JOINT_NAMES),
        "hotstream.normalization": NORMALIZATION,
        "hotstream.output": "pose3d: metres, root-relative, camera coordinates (x right, y down, z forward)",
        "hotstream.checkpoint_sha256": weights_sha256 or "",
    }


def read_metadata(path: str | Path) -> tuple[object, dict[str, str]]:
    """The model config and all hotstream metadata of an exported graph."""
    try:
        graph = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError) as err:
        raise ValueError(f"{path}: not a readable ONNX file ({err})") from None
    props = {p.key: p.value for p in graph.metadata_props}
    if "hotstream.config" not in props:
        raise ValueError(f"{path}: not a hotstream ONNX export (no hotstream.config metadata)")
    return config_from_dict(props.get("hotstream.arch"), json.loads(props["hotstream.config"])), props


def export_onnx(model: torch.nn.Module, out: str | Path, *, graph: str = "window", attention: str = "onnx",
                batch: int | None = None, lookahead: int = 0, simplify: bool = True,
                weights_sha256: str | None = None, opset: int = OPSET) -> dict:
    """Export ``model`` to ``out``; returns a report (node counts and sizes with and without onnxslim)."""
    if graph not in GRAPHS:
        raise ValueError(f"unknown graph {graph!r}; choose one of {', '.join(GRAPHS)}")
    if attention not in ATTENTION:
        raise ValueError(f"unknown attention {attention!r}; choose one of {', '.join(ATTENTION)}")
    if opset < 17:
        raise ValueError(f"opset {opset} < 17: LayerNorm would be split into primitive ops")
    if batch is not None and batch < 1:
        raise ValueError(f"batch must be >= 1 or None (dynamic), got {batch}")
    config = model.config
    config.target_index(lookahead)  # validates lookahead
    if graph != "window" and not has_frame_split(model):
        raise ValueError(f"a {arch_of(config)} model has no per-frame half; only the 'window' graph exists")
    module, input_names, output = GRAPHS[graph]
    traced = with_onnxruntime_attention(model) if attention == "onnxruntime" else model
    proto = _trace(module(traced).eval(), _example_inputs(graph, model, batch or 2, lookahead),
                   input_names, (output,), batch is None, opset)
    report = {"graph": graph, "attention": attention, "opset": opset, "batch": batch or "dynamic",
              "nodes": len(proto.graph.node), "bytes": proto.ByteSize(), "simplified": False}
    if simplify:
        slim = _slim(proto)
        report.update(nodes_slim=len(slim.graph.node), bytes_slim=slim.ByteSize())
        if len(slim.graph.node) <= len(proto.graph.node):
            proto, report["simplified"] = slim, True
    onnx.helper.set_model_props(proto, metadata(config, lookahead, weights_sha256, graph, attention))
    onnx.checker.check_model(proto, full_check=True)
    atomic_write_bytes(Path(out), proto.SerializeToString())
    report["path"] = str(out)
    log.info("exported %s: %s", out, report)
    return report


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, poses: str | Path | None = None,
                      tolerance: float = 1e-4, **options) -> dict:
    """Export a checkpoint (``options`` as :func:`export_onnx`) and check the graph on 64 random
    windows and, given ``poses`` (an npz with a ``pose2d`` (N, 17, 2) sequence), on its full
    windows: ``{"export": report, "checks": {name: verify_export(...)}, "ok": bool}``. ``ok`` needs
    parity everywhere and, for a portable graph, no node TensorRT would reject."""
    from engines.checkpoint import file_sha256, load_model
    from engines.windows import target_windows

    model, _ = load_model(checkpoint)
    report = export_onnx(model, out, weights_sha256=file_sha256(checkpoint), **options)
    c = model.config
    step = options.get("batch") or 1  # a fixed-batch graph is checked on whole batches
    checks = {"random": np.random.default_rng(0).normal(0, 0.3, (max(1, 64 // step) * step, c.num_frames,
                                                                 c.num_joints, 2))}
    if poses is not None:
        real = target_windows(np.load(poses)["pose2d"], c.num_frames)[c.num_frames - 1:]
        checks["real"] = real[: len(real) // step * step]
    lookahead = options.get("lookahead", 0)
    results = {name: verify_export(out, model, windows, lookahead=lookahead, tolerance=tolerance)
               for name, windows in checks.items() if len(windows)}
    portable = options.get("attention", "onnx") == "onnx"  # an ONNX Runtime-only graph is not meant for TensorRT
    ok = all(r["parity"] and not (portable and r["tensorrt_problems"]) for r in results.values())
    return {"export": report, "checks": results, "ok": ok}


# --- checks ----------------------------------------------------------------------------------------

TRT_OPS_FILE = Path(__file__).resolve().parent / "tensorrt_onnx_ops.txt"


def tensorrt_supported_ops() -> set[str]:
    lines = TRT_OPS_FILE.read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def tensorrt_problems(graph: onnx.ModelProto) -> list[str]:
    """Nodes TensorRT's ONNX parser would reject: ops off its support list, or restricted uses."""
    supported = tensorrt_supported_ops()  # standard ONNX ops: an op of another domain is never on it
    names = {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in graph.graph.node}
    problems = sorted(f"{name} is not supported" for name in names - supported)
    for node in graph.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "TopK" and attrs.get("sorted", 1) != 1:
            problems.append(f"{node.name}: TopK with sorted=0")
        if node.op_type == "LayerNormalization" and len([o for o in node.output if o]) > 1:
            problems.append(f"{node.name}: LayerNormalization with more than one output")
    return problems


class _KeptFrames(torch.nn.Module):
    """The frame selection alone (an architecture's ``kept_frames``), to compare selections."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pose2d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model.kept_frames(pose2d, target)


def verify_export(onnx_path: str | Path, model: torch.nn.Module, windows: np.ndarray, *, lookahead: int = 0,
                  tolerance: float = 1e-4, threads: int | None = 1) -> dict:
    """Check an exported graph against its PyTorch model.

    Runs the ONNX checker, compares ONNX Runtime (CPU, fp32) with PyTorch on ``windows``, and
    lists nodes TensorRT would reject. Token pruning is a discrete choice: where the two runtimes
    keep different frames (a near-tie flipped by rounding) outputs may differ by more than any
    float tolerance, so those windows are counted (``selection_differs``) and the tolerance is
    applied to the others. A near-tie can also flip inside the exported graph and not in the
    separately exported selector that compares selections, so windows whose selection changes
    when the input moves by rounding-sized noise (std 1e-6, four draws) are counted as
    ``near_ties`` and left out of the tolerance too. An architecture without a frame selection
    (no ``kept_frames``) has neither.
    """
    import onnxruntime as ort

    from engines.runtime.onnxruntime_backend import graph_feed, session_options

    graph = onnx.load(str(onnx_path))
    onnx.checker.check_model(graph, full_check=True)
    kind = {p.key: p.value for p in graph.metadata_props}.get("hotstream.graph", "window")
    if kind != "window":
        raise ValueError(f"{onnx_path}: a {kind!r} graph; only whole-window graphs can be checked against the model")
    model = model.eval()
    x = np.ascontiguousarray(windows, dtype=np.float32)
    target = np.full((len(x),), model.config.target_index(lookahead), dtype=np.int64)
    session = ort.InferenceSession(str(onnx_path), session_options(threads), providers=["CPUExecutionProvider"])
    step = graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value or len(x)  # a fixed-batch graph: chunks
    if len(x) % step:
        raise ValueError(f"{len(x)} windows do not split into the graph's fixed batch of {step}")
    got = np.concatenate([session.run(["pose3d"], graph_feed(session, pose2d=x[i:i + step], target=target[i:i + step]))[0]
                          for i in range(0, len(x), step)])
    with torch.inference_mode():
        want = TargetFrameLifter(model)(torch.from_numpy(x), torch.from_numpy(target)).numpy()
    differs, near_tie = _selection_checks(model, x, target, lookahead, threads)
    same = ~differs & ~near_tie
    err = np.abs(got - want).reshape(len(x), -1).max(1)
    max_err = float(err[same].max()) if same.any() else float("nan")
    return {"windows": len(x), "selection_differs": int(differs.sum()),
            "near_ties": int(near_tie.sum()), "max_abs_err": max_err,
            "max_abs_err_all": float(err.max()), "tolerance": tolerance,
            "parity": bool(same.any() and max_err <= tolerance), "tensorrt_problems": tensorrt_problems(graph)}


def _selection_checks(model: torch.nn.Module, x: np.ndarray, target: np.ndarray, lookahead: int,
                      threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(windows whose frame selection differs between ONNX Runtime and PyTorch, near-tie windows)."""
    import onnxruntime as ort

    from engines.runtime.onnxruntime_backend import session_options

    none = np.zeros(len(x), dtype=bool)
    if not hasattr(model, "kept_frames"):
        return none, none
    with torch.inference_mode():
        kept_torch = _KeptFrames(model)(torch.from_numpy(x), torch.from_numpy(target)).numpy()
    selector = _trace(_KeptFrames(model).eval(), _example_inputs("window", model, 2, lookahead), ("pose2d", "target"),
                      ("kept",), True, OPSET)
    kept_ort = ort.InferenceSession(selector.SerializeToString(), session_options(threads),
                                    providers=["CPUExecutionProvider"]).run(None, {"pose2d": x, "target": target})[0]
    near_tie = none.copy()
    noise = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for _ in range(4):
            nudged = torch.from_numpy(x) + 1e-6 * torch.randn(x.shape, generator=noise)
            near_tie |= (_KeptFrames(model)(nudged, torch.from_numpy(target)).numpy() != kept_torch).any(1)
    return (kept_ort != kept_torch).any(1), near_tie
