"""Load a user's own capture (BVH, ASF/AMC, C3D or an H36M-17 array) into the same :class:`Clip`."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from engines.windows import resample

from .asf_amc import CMU_BONES, CMU_FPS, load_asf_amc
from .axes import to_z_up
from .bvh import BARE_END_M, CMU_JOINTS, load_bvh
from .c3d import VICON_53, load_c3d
from .checks import require_ok, run_checks
from .clip import Clip

_DEFAULT_UP = {".bvh": "y", ".amc": "y", ".c3d": "z", ".npz": "z", ".npy": "z"}


def _load_array(path: Path, source_fps: float | None, scale: float) -> tuple[np.ndarray, float]:
    if path.suffix == ".npz":
        with np.load(path) as data:
            if "positions" not in data:
                raise ValueError(f"{path}: npz has no 'positions' array (keys: {list(data)})")
            positions = data["positions"]
            stored_fps = float(data["fps"]) if "fps" in data else None
    else:
        positions, stored_fps = np.load(path), None
    fps = source_fps or stored_fps
    if fps is None:
        raise ValueError(f"{path}: give source_fps; the file does not store a frame rate")
    if positions.ndim != 3 or positions.shape[1:] != (17, 3):
        raise ValueError(f"{path}: positions must be (T, 17, 3) H36M-17 joints, got {positions.shape}")
    return positions * scale, fps


def _skeleton_beside(path: Path) -> Path:
    """CMU keeps a subject's skeleton next to its motions (01/01.asf, 01/01_01.amc)."""
    found = sorted(path.parent.glob("*.asf"))
    if len(found) != 1:
        raise ValueError(f"{path}: pass skeleton= (its .asf); found {len(found)} .asf files beside it")
    return found[0]


def load_user_clip(path: str | Path, fps: float = 50.0, *, scale: float | None = None,
                   mapping: Mapping | None = None, up_axis: str | None = None,
                   source_fps: float | None = None, name: str | None = None,
                   source: str = "user", check: bool = True,
                   skeleton: str | Path | None = None) -> Clip:
    """Read ``path`` and return it as a Clip at ``fps``.

    * ``.bvh``: ``mapping`` H36M joint -> BVH joint (default: CMU names, see :mod:`.bvh`);
      ``scale`` converts file units to metres (default 1.0; CMU cgspeed files need
      :data:`.bvh.CMU_SCALE`, centimetre files 0.01). Up axis default "y". A mapped End Site of
      length 0 (LaFAN1's head) is laid on :data:`.bvh.BARE_END_M` along its joint's bone.
    * ``.amc``: posed on ``skeleton``, its ASF (default: the one .asf in the same folder);
      ``mapping`` H36M joint -> the bone ending there (default: CMU names, see :mod:`.asf_amc`);
      the ASF gives the units; ``source_fps`` defaults to CMU's 120. Up axis default "y".
    * ``.c3d``: ``mapping`` H36M joint -> marker rule (default: the Vicon 53-marker table of
      :mod:`.c3d`); units come from the file. Up axis default "z".
    * ``.npz`` (key ``positions``, optional ``fps``) or ``.npy``: (T, 17, 3) in JOINT_NAMES
      order, times ``scale`` (default 1.0) in metres; ``source_fps`` if the file has no ``fps``.

    With ``check`` the clip must pass :func:`.checks.run_checks` (a looser bone tolerance for
    C3D and arrays), which catches wrong units, axes or sides at once.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _DEFAULT_UP:
        raise ValueError(f"{path}: unsupported mocap file type {suffix!r}; use .bvh, .amc, .c3d, .npz or .npy")
    if not path.exists():
        raise FileNotFoundError(f"mocap file not found: {path}")
    up_axis = up_axis or _DEFAULT_UP[suffix]
    meta: dict = {"original_path": str(path)}
    if suffix == ".bvh":
        positions, original_fps = load_bvh(path, mapping or CMU_JOINTS, scale or 1.0, up_axis, BARE_END_M)
        rigidity = "skeleton"
    elif suffix == ".amc":
        if scale is not None:
            raise ValueError("ASF skeletons state their own length unit; scale is not used for them")
        positions = load_asf_amc(skeleton or _skeleton_beside(path), path, mapping or CMU_BONES,
                                 up_axis)
        original_fps = source_fps or CMU_FPS
        rigidity = "skeleton"
    elif suffix == ".c3d":
        if scale is not None:
            raise ValueError("C3D files state their own units; scale is not used for them")
        positions, original_fps, meta["gaps"] = load_c3d(path, mapping or VICON_53, up_axis)
        rigidity = "markers"
    else:
        if mapping is not None:
            raise ValueError("arrays are already H36M-17; mapping is not used for them")
        positions, original_fps = _load_array(path, source_fps, scale or 1.0)
        positions = to_z_up(positions, up_axis)
        rigidity = "markers"
    meta.update(original_fps=original_fps, original_frames=len(positions))
    clip = Clip(source, name or path.stem, resample(positions, original_fps, fps), fps, meta)
    if check:
        meta["checks"] = run_checks(clip.positions, rigidity)
        require_ok(meta["checks"], clip.name)
    return clip
