"""The project's checkpoint format, and import of the authors' official HoT/MixSTE weights.

A checkpoint is one safetensors file: the model's ``state_dict`` plus, in the metadata, the
architecture's name (``arch``, :mod:`engines.models`; ``hot`` when absent), its config as JSON
and free-form training info. Safetensors holds tensors only, so loading a
checkpoint can never run code. Loading is strict: a missing or unused key, or a shape mismatch,
is an error that names the file.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from engines.models import arch_of, config_from_dict, create_model, hot

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "live-cpu.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the reason."""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: torch.nn.Module, info: dict | None = None) -> None:
    """Write weights + config (+ optional JSON-serialisable ``info``) to one safetensors file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"format": "hotstream/1", "arch": arch_of(model.config), "config": json.dumps(model.config.to_dict()),
            "info": json.dumps(info or {})}
    save_file(state, str(path), metadata=meta)


def read_checkpoint(path: str | Path) -> tuple[object, dict[str, torch.Tensor], dict]:
    """(config, state_dict, info) from a checkpoint file, without building a model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        state = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({e})") from None
    if meta.get("format") != "hotstream/1" or "config" not in meta:
        raise CheckpointError(f"{path}: not a hotstream checkpoint (no hotstream/1 metadata); "
                              "convert official weights with tools/import_weights.py")
    try:
        config = config_from_dict(meta.get("arch"), json.loads(meta["config"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid model config in metadata ({e})") from None
    return config, state, json.loads(meta.get("info", "{}"))


def load_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """``load_state_dict`` that fails on missing keys, unused keys and shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unused = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unused:
        problems.append(f"unused keys {unused[:5]}{' ...' if len(unused) > 5 else ''}")
    if wrong:
        problems.append("shape mismatch " + ", ".join(
            f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:3]))
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_model(path: str | Path | None = None) -> tuple[torch.nn.Module, dict]:
    """Build the model a checkpoint describes and load its weights strictly. None -> shipped default."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    config, state, info = read_checkpoint(path)
    model = create_model(config)
    load_strict(model, state, path)
    return model.eval(), info


# --- official weights (the renaming itself is the architecture's: engines/models/hot.py) ---

def _unwrap_official(obj) -> dict[str, torch.Tensor]:
    """The bare state_dict from an official file: accepts {'model_pos': sd}-style wrappers and
    DataParallel's ``module.`` prefix."""
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        nested = [v for v in obj.values() if isinstance(v, dict)]
        if len(nested) != 1:
            raise CheckpointError(f"expected one state_dict inside the file, found keys {list(obj)[:5]}")
        obj = nested[0]
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_official(path: str | Path, arch: str, keep_tokens: int | None = None,
                  prune_layer: int | None = None) -> hot.HoT:
    """Build and strictly load a model from the authors' released ``.pth`` (safe unpickling only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise CheckpointError(f"{path}: refused or unreadable as a weights-only checkpoint ({e})") from None
    state = _unwrap_official(raw)
    try:
        config = hot.official_config(state, arch, keep_tokens, prune_layer)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    model = hot.HoT(config)
    load_strict(model, hot.checkpoint_filter_fn(state), path)
    return model.eval()


OFFICIAL_FPS = 50  # the authors train and test on Human3.6M at 50 fps


def import_official(src: str | Path, dst: str | Path, arch: str, keep_tokens: int | None = None,
                    prune_layer: int | None = None) -> tuple[hot.HoT, dict]:
    """Convert an official ``.pth`` into a checkpoint of ours; ``info`` records where it came from."""
    src = Path(src)
    model = load_official(src, arch, keep_tokens, prune_layer)
    info = {"source": src.name, "source_sha256": file_sha256(src), "arch": arch, "fps": OFFICIAL_FPS}
    save_checkpoint(dst, model, info)
    return model, info
