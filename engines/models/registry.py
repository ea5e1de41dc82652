"""Lifter architectures by name, as timm registers its models.

An architecture is one file in ``engines/models/`` that ends with ``register(name, Config, Model,
PRESETS)``. What the rest of the project needs from it:

* ``Config``: a frozen dataclass of plain values (it round-trips through JSON in checkpoints and
  ONNX metadata) with ``num_frames``, ``num_joints``, ``target_index(lookahead)`` (which window
  index a lookahead predicts; a ValueError for one the model cannot serve) and ``to_dict()``.
* ``Model(config)``: a ``torch.nn.Module`` with ``config`` and

  - ``forward_target(pose2d (B, T, J, 2), target (B,)) -> (B, J, 3)``: the target frame's 3D, what
    every runtime runs and every export traces;
  - ``forward_train(pose2d, target) -> (pred (B, f, J, 3), frames (B, f))``: the frames the
    training loss supervises (:func:`engines.losses.seq2frame_loss`);
  - optionally ``embed_frames(pose2d (B, F, J, 2)) -> (B, F, J, C)``, ``forward_target_tokens``
    and ``token_dim``: a per-frame first half, which the runtimes' frame-token cache runs once
    per frame;
  - optionally ``kept_frames(pose2d, target) -> (B, f)``: a discrete frame selection, which
    export checks compare between runtimes.
* ``PRESETS``: named configs; names are unique across architectures.

Checkpoints and exported graphs store the architecture's name (``arch``) beside the config; one
without it is ``hot``, the only architecture there was before.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

DEFAULT_ARCH = "hot"  # what a checkpoint or graph that names no architecture holds


@dataclass(frozen=True)
class Architecture:
    name: str
    config: type
    model: type
    presets: dict[str, Any]


ARCHITECTURES: dict[str, Architecture] = {}


def register(name: str, config: type, model: type, presets: dict[str, Any]) -> None:
    clash = set(presets) & set(all_presets())
    if name in ARCHITECTURES or clash:
        raise ValueError(f"architecture {name!r} or preset(s) {sorted(clash)} registered twice")
    ARCHITECTURES[name] = Architecture(name, config, model, dict(presets))


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def arch_of(config) -> str:
    """The registered name of a config's architecture."""
    for arch in ARCHITECTURES.values():
        if type(config) is arch.config:
            return arch.name
    raise ValueError(f"{type(config).__name__} is no registered architecture's config")


def config_from_dict(arch: str | None, fields: dict):
    """A config from its JSON fields; ``arch`` None means :data:`DEFAULT_ARCH`."""
    cls = architecture(arch or DEFAULT_ARCH).config
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def create_model(config):
    """A freshly initialised model of the config's architecture."""
    return architecture(arch_of(config)).model(config)


def all_presets() -> dict[str, Any]:
    """Every architecture's presets by name."""
    return {name: preset for arch in ARCHITECTURES.values() for name, preset in arch.presets.items()}


def get_preset(name: str, **overrides):
    """A preset's config by name, with optional field overrides (a TypeError names a bad field)."""
    presets = all_presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    return replace(presets[name], **overrides)


def preset_name(config) -> str | None:
    """The preset this config is (training-only settings aside: ``drop_path``, ``dropout``), if any."""
    for name, preset in all_presets().items():
        if type(preset) is type(config):
            training_only = {k: getattr(preset, k) for k in ("drop_path", "dropout") if hasattr(preset, k)}
            if replace(config, **training_only) == preset:
                return name
    return None
