"""Where exported ONNX graphs and TensorRT plans are cached, and when a cached file is stale.

Cache entries are named by everything that determines their content, so a changed checkpoint,
export option, TensorRT version, GPU or precision never reuses an old file. Plain functions with
no TensorRT import, so the staleness rules are testable on any machine.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

# Source files whose code shapes the exported graph: editing any of them invalidates cached exports.
_GRAPH_SOURCES = ("models/*.py", "runtime/export.py", "runtime/graph.py")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hotstream"


def graph_code_fingerprint() -> str:
    """Short hash of the model and export code, so cached exports follow code changes."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pattern in _GRAPH_SOURCES:
        for path in sorted(root.glob(pattern)):
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def onnx_cache_path(cache_dir: Path, weights_sha256: str, options: dict) -> Path:
    """``<cache>/onnx/<checkpoint sha>-<options>-<code>.onnx``."""
    opts = "-".join(f"{k}{v}" for k, v in sorted(options.items()))
    return Path(cache_dir) / "onnx" / f"{weights_sha256[:16]}-{opts}-{graph_code_fingerprint()}.onnx"


def plan_key(onnx_sha256: str, trt_version: str, gpu_name: str, precision: str, max_batch: int) -> dict:
    """Everything a serialised TensorRT plan depends on (plans are not portable across these)."""
    return {"onnx_sha256": onnx_sha256, "tensorrt": trt_version, "gpu": gpu_name,
            "precision": precision, "max_batch": int(max_batch)}


def plan_cache_path(cache_dir: Path, key: dict) -> Path:
    gpu = re.sub(r"[^A-Za-z0-9]+", "_", key["gpu"]).strip("_")
    name = f"{key['onnx_sha256'][:16]}-trt{key['tensorrt']}-{gpu}-{key['precision']}-b{key['max_batch']}.plan"
    return Path(cache_dir) / "tensorrt" / name


def write_plan_key(plan: Path, key: dict) -> None:
    plan.with_suffix(".json").write_text(json.dumps(key, indent=1))


def stale_reasons(plan: Path, key: dict) -> list[str]:
    """Why the plan at ``plan`` cannot be used for ``key``; empty when it is current."""
    if not plan.is_file():
        return [f"{plan} does not exist"]
    sidecar = plan.with_suffix(".json")
    if not sidecar.is_file():
        return [f"{sidecar} (what the plan was built for) is missing"]
    try:
        built = json.loads(sidecar.read_text())
    except ValueError:
        return [f"{sidecar} is not valid JSON"]
    return [f"{field}: plan built for {built.get(field)!r}, need {want!r}"
            for field, want in key.items() if built.get(field) != want]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves a truncated cache entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
