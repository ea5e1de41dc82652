"""The project's checkpoint format, and import of the authors' official HoT/MixSTE weights.

A checkpoint is one safetensors file: the model's ``state_dict`` plus, in the metadata, the
``HoTConfig`` as JSON and free-form training info. Safetensors holds tensors only, so loading a
checkpoint can never run code. Loading is strict: a missing or unused key, or a shape mismatch,
is an error that names the file.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from engines.hot import HoT, HoTConfig

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "live-cpu.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the reason."""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: HoT, info: dict | None = None) -> None:
    """Write weights + config (+ optional JSON-serialisable ``info``) to one safetensors file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"format": "hotstream/1", "config": json.dumps(model.config.to_dict()),
            "info": json.dumps(info or {})}
    save_file(state, str(path), metadata=meta)


def read_checkpoint(path: str | Path) -> tuple[HoTConfig, dict[str, torch.Tensor], dict]:
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
        config = HoTConfig(**json.loads(meta["config"]))
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


def load_model(path: str | Path | None = None) -> tuple[HoT, dict]:
    """Build the model a checkpoint describes and load its weights strictly. None -> shipped default."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    config, state, info = read_checkpoint(path)
    model = HoT(config)
    load_strict(model, state, path)
    return model.eval(), info


# --- official weights ----------------------------------------------------------------------------

OFFICIAL_ARCHS = ("mixste", "hot_mixste", "tpc_mixste")

# Official name -> ours, applied in order to every key.
_OFFICIAL_RENAMES = (
    (r"^Spatial_patch_to_embedding\.", "joint_embed."),
    (r"^Spatial_pos_embed$", "spatial_pos"),
    (r"^Temporal_pos_embed$", "temporal_pos"),
    (r"^STEblocks\.", "spatial_blocks."),
    (r"^TTEblocks\.", "temporal_blocks."),
    (r"^Spatial_norm\.", "spatial_norm."),
    (r"^Temporal_norm\.", "temporal_norm."),
    (r"^pos_embed_token$", "kept_pos"),
    (r"^x_token$", "recovery.queries"),
    (r"^cross_attention\.linear_([qkv])\.", r"recovery.\1."),
    (r"^cross_attention\.proj\.", "recovery.proj."),
)


def _unwrap_official(obj) -> dict[str, torch.Tensor]:
    """The bare state_dict from an official file: accepts {'model_pos': sd}-style wrappers and
    DataParallel's ``module.`` prefix."""
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        nested = [v for v in obj.values() if isinstance(v, dict)]
        if len(nested) != 1:
            raise CheckpointError(f"expected one state_dict inside the file, found keys {list(obj)[:5]}")
        obj = nested[0]
    return {k.removeprefix("module."): v for k, v in obj.items()}


def official_config(state: dict[str, torch.Tensor], arch: str, keep_tokens: int | None = None,
                    prune_layer: int | None = None) -> HoTConfig:
    """Read the sizes from an official state_dict's shapes; the rest come from the arch's defaults."""
    if arch not in OFFICIAL_ARCHS:
        raise CheckpointError(f"unknown arch {arch!r}; choose one of {', '.join(OFFICIAL_ARCHS)}")
    try:
        dim = state["Spatial_pos_embed"].shape[-1]
        num_joints = state["Spatial_pos_embed"].shape[1]
        num_frames = state["Temporal_pos_embed"].shape[1]
        depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"STEblocks\.(\d+)\.", k)))
        mlp_ratio = state["STEblocks.0.mlp.fc1.weight"].shape[0] / dim
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"not an official MixSTE-family state_dict (missing {e})") from None
    common = dict(num_frames=num_frames, dim=dim, depth=depth, mlp_ratio=mlp_ratio, num_joints=num_joints)
    try:
        if arch == "mixste":
            return HoTConfig(**common, prune=None, seq2seq=True)
        if arch == "hot_mixste":
            kept = state["pos_embed_token"].shape[1] if "pos_embed_token" in state else keep_tokens
            return HoTConfig(**common, prune="tpc", seq2seq=True, recover="tra", kept_pos_embed=True,
                             keep_tokens=81 if kept is None else kept,
                             prune_layer=3 if prune_layer is None else prune_layer)
        return HoTConfig(**common, prune="tpc", keep_tokens=61 if keep_tokens is None else keep_tokens,
                         prune_layer=7 if prune_layer is None else prune_layer)
    except ValueError as e:  # e.g. the paper's 61 kept tokens for a shorter window
        raise CheckpointError(f"{arch} with T={num_frames}, depth={depth}: {e} "
                              "(give the keep-tokens / prune-layer the model was trained with)") from None


def convert_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official state_dict's keys to ours (the only place that knows both namings)."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _OFFICIAL_RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def load_official(path: str | Path, arch: str, keep_tokens: int | None = None,
                  prune_layer: int | None = None) -> HoT:
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
        config = official_config(state, arch, keep_tokens, prune_layer)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    model = HoT(config)
    load_strict(model, convert_official(state), path)
    return model.eval()


OFFICIAL_FPS = 50  # the authors train and test on Human3.6M at 50 fps


def import_official(src: str | Path, dst: str | Path, arch: str, keep_tokens: int | None = None,
                    prune_layer: int | None = None) -> tuple[HoT, dict]:
    """Convert an official ``.pth`` into a checkpoint of ours; ``info`` records where it came from."""
    src = Path(src)
    model = load_official(src, arch, keep_tokens, prune_layer)
    info = {"source": src.name, "source_sha256": file_sha256(src), "arch": arch, "fps": OFFICIAL_FPS}
    save_checkpoint(dst, model, info)
    return model, info
