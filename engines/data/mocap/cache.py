"""The on-disk cache: one ``<source>__<clip>.npz`` per clip plus ``manifest.json``.

Each npz holds ``positions`` (T, 17, 3) float32 metres world Z-up, ``fps``, ``source`` and
``clip``. The manifest records, per clip, the npz checksum, where the data came from (package,
version, checksum, path, original rate and length), its licence and its check results. Clips
that failed their checks are listed under ``rejected`` and have no npz.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engines.skeleton import JOINT_NAMES

from .clip import Clip
from .packages import sha256_file

MANIFEST = "manifest.json"
FORMAT = 1


def new_manifest(fps: float) -> dict:
    return {"format": FORMAT, "fps": float(fps), "joints": list(JOINT_NAMES),
            "units": "metres, world frame, Z up", "clips": {}, "rejected": {}}


def read_manifest(cache_dir: Path) -> dict | None:
    path = Path(cache_dir) / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: manifest format {manifest.get('format')}, expected {FORMAT}")
    return manifest


def write_manifest(cache_dir: Path, manifest: dict) -> None:
    """Write atomically, so an interrupted fetch never leaves a half-written manifest."""
    path = Path(cache_dir) / MANIFEST
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def write_clip(cache_dir: Path, clip: Clip) -> tuple[str, str]:
    """Save ``clip`` -> (file name, sha256 of the file)."""
    name = f"{clip.name}.npz"
    np.savez_compressed(Path(cache_dir) / name, positions=clip.positions.astype(np.float32),
                        fps=np.float64(clip.fps), source=clip.source, clip=clip.clip)
    return name, sha256_file(Path(cache_dir) / name)


def clip_is_intact(cache_dir: Path, entry: dict) -> bool:
    path = Path(cache_dir) / entry["file"]
    return path.exists() and sha256_file(path) == entry["sha256"]


def load_cache(cache_dir: str | Path = "data/mocap") -> list[Clip]:
    """All clips in a cache, sorted by name, each verified against its manifest checksum."""
    cache_dir = Path(cache_dir)
    manifest = read_manifest(cache_dir)
    if manifest is None:
        raise FileNotFoundError(f"no {MANIFEST} in {cache_dir}; run tools/fetch_mocap.py first")
    clips = []
    for name, entry in sorted(manifest["clips"].items()):
        if not clip_is_intact(cache_dir, entry):
            raise ValueError(f"{cache_dir / entry['file']} is missing or does not match its "
                             f"manifest checksum; re-run tools/fetch_mocap.py")
        with np.load(cache_dir / entry["file"]) as data:
            clips.append(Clip(str(data["source"]), str(data["clip"]), data["positions"],
                              float(data["fps"]), meta=entry))
    return clips
