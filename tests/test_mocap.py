"""Mocap conversion: small synthetic inputs whose joint positions are worked out by hand, the
resampling maths, the sanity checks, the cache, and the real download when it is reachable."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import ezc3d
import numpy as np
import pytest

from engines.data.mocap import (ClipCheckError, SOURCES, fetch_all, load_cache, load_user_clip,
                                run_checks)
from engines.data.mocap import cache, deepmimic, holosoma
from engines.data.mocap.bvh import BARE_END_M, load_bvh
from engines.data.mocap.c3d import VICON_53, load_c3d
from engines.data.mocap.checks import require_ok
from engines.data.mocap.clip import Clip
from engines.data.mocap.render import render_frame
from engines.skeleton import FLIP_PERMUTATION, JOINT_INDEX as J, JOINT_NAMES

REPO_CACHE = Path(__file__).resolve().parents[1] / "data" / "mocap"


def zup(x, y, z):
    """A Y-up point (x, y, z) in the Z-up world frame."""
    return np.array([x, -z, y])


def walking_pose_clip(frames: int = 100, fps: float = 50.0) -> np.ndarray:
    """An H36M-17 clip, Z up, facing +y (so left is -x), knees flexing forwards."""
    t = np.arange(frames) / fps
    flex = 0.3 + 0.3 * np.sin(2 * np.pi * t)  # knee flexion, rad
    p = np.zeros((frames, 17, 3))
    pelvis = np.stack([np.zeros_like(t), 0.8 * t, np.full_like(t, 0.95)], -1)
    for side, x in (("right", 0.1), ("left", -0.1)):
        hip = pelvis + [x, 0, 0]
        half = flex / 2
        knee = hip + 0.45 * np.stack([0 * t, np.sin(half), -np.cos(half)], -1)
        p[:, J[f"{side}_hip"]], p[:, J[f"{side}_knee"]] = hip, knee
        p[:, J[f"{side}_ankle"]] = knee + 0.43 * np.stack([0 * t, -np.sin(half), -np.cos(half)], -1)
        shoulder = pelvis + [1.8 * x, 0, 0.5]
        p[:, J[f"{side}_shoulder"]] = shoulder
        p[:, J[f"{side}_elbow"]] = shoulder + [0, 0, -0.28]
        p[:, J[f"{side}_wrist"]] = shoulder + [0, 0.05, -0.53]
    thorax = pelvis + [0, 0, 0.5]
    p[:, J["pelvis"]], p[:, J["thorax"]], p[:, J["spine"]] = pelvis, thorax, pelvis + [0, 0, 0.25]
    p[:, J["neck_nose"]] = thorax + [0, 0.05, 0.15]
    p[:, J["head_top"]] = thorax + [0, 0, 0.3]
    return p.astype(np.float32)


# --- BVH ------------------------------------------------------------------------------------------

def _bvh_joint(name: str, offset: str, children: str = "", end: str | None = None) -> str:
    inner = children if end is None else f"End Site\n{{\nOFFSET {end}\n}}\n"
    return (f"JOINT {name}\n{{\nOFFSET {offset}\nCHANNELS 3 Zrotation Yrotation Xrotation\n"
            f"{inner}}}\n")


def write_cmu_bvh(path: Path, frames: list[list[float]], head_end: str = "0 1 0") -> None:
    """A minimal CMU-named skeleton; channel order below is the order of ``frames`` values."""
    leg = lambda s, x: _bvh_joint(f"{s}UpLeg", f"{x} 0 0", _bvh_joint(
        f"{s}Leg", "0 -4 0", _bvh_joint(f"{s}Foot", "0 -4 0", end="0 0 1")))
    arm = lambda s, x: _bvh_joint(f"{s}Arm", f"{1.5 * x} 2 0", _bvh_joint(
        f"{s}ForeArm", f"{2 * x} 0 0", _bvh_joint(f"{s}Hand", f"{2 * x} 0 0", end=f"{0.5 * x} 0 0")))
    spine = _bvh_joint("Spine", "0 2 0", _bvh_joint("Head", "0 3 0", end=head_end)
                       + arm("Left", 1) + arm("Right", -1))
    text = ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\n"
            "CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation\n"
            + leg("Left", 1) + leg("Right", -1) + spine + "}\n"
            + f"MOTION\nFrames: {len(frames)}\nFrame Time: 0.01\n"
            + "".join(" ".join(str(v) for v in frame) + "\n" for frame in frames))
    path.write_text(text)


# Channel blocks in file order: Hips(6) LeftUpLeg LeftLeg LeftFoot RightUpLeg RightLeg RightFoot
# Spine Head LeftArm LeftForeArm LeftHand RightArm RightForeArm RightHand (3 each: Z Y X).
BVH_BLOCK = {name: 6 + 3 * i for i, name in enumerate(
    ("LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg", "RightFoot", "Spine", "Head",
     "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand"))}


def test_bvh_cmu_mapping_forward_kinematics_and_end_site(tmp_path):
    rest = [0, 10, 0, 0, 0, 0] + [0] * 42
    bent = list(rest)
    bent[BVH_BLOCK["LeftLeg"] + 2] = 90  # left knee: 90 degrees about X
    bent[BVH_BLOCK["Head"]] = 90  # head: 90 degrees about Z
    write_cmu_bvh(tmp_path / "tiny.bvh", [rest, bent])
    positions, fps = load_bvh(tmp_path / "tiny.bvh", scale=0.1)
    assert positions.shape == (2, 17, 3) and fps == 100.0
    rest_pose, bent_pose = positions.astype(np.float64)
    # Rest pose: offsets summed from the root at (0, 10, 0), times 0.1, turned Z up.
    np.testing.assert_allclose(rest_pose[J["left_hip"]], 0.1 * zup(1, 10, 0), atol=1e-5)
    np.testing.assert_allclose(rest_pose[J["left_ankle"]], 0.1 * zup(1, 2, 0), atol=1e-5)
    np.testing.assert_allclose(rest_pose[J["right_knee"]], 0.1 * zup(-1, 6, 0), atol=1e-5)
    np.testing.assert_allclose(rest_pose[J["neck_nose"]], 0.1 * zup(0, 15, 0), atol=1e-5)
    np.testing.assert_allclose(rest_pose[J["head_top"]], 0.1 * zup(0, 16, 0), atol=1e-5)
    np.testing.assert_allclose(rest_pose[J["right_wrist"]], 0.1 * zup(-5.5, 14, 0), atol=1e-5)
    np.testing.assert_allclose(rest_pose[J["pelvis"]], 0.1 * zup(0, 10, 0), atol=1e-5)
    np.testing.assert_allclose(rest_pose[J["thorax"]], 0.1 * zup(0, 14, 0), atol=1e-5)
    # Knee +90 deg about X swings the shin (0, -4, 0) to (0, 0, -4); the head's End Site
    # (0, 1, 0) turns to (-1, 0, 0) under +90 deg about Z.
    np.testing.assert_allclose(bent_pose[J["left_ankle"]], 0.1 * zup(1, 6, -4), atol=1e-5)
    np.testing.assert_allclose(bent_pose[J["head_top"]], 0.1 * zup(-1, 15, 0), atol=1e-5)


def test_bvh_bare_end_site_lies_on_along_the_parent_line(tmp_path):
    rest = [0, 10, 0, 0, 0, 0] + [0] * 42
    turned = list(rest)
    turned[BVH_BLOCK["Spine"]] = 90  # spine: 90 degrees about Z, so the neck points along -x
    write_cmu_bvh(tmp_path / "bare.bvh", [rest, turned], head_end="0 0 0")
    with pytest.raises(ValueError, match="End Site of 'Head' .* has length 0"):
        load_bvh(tmp_path / "bare.bvh", scale=0.1)
    positions, _ = load_bvh(tmp_path / "bare.bvh", scale=0.1, bare_end=0.2)
    rest_pose, turned_pose = positions.astype(np.float64)
    # Spine (0, 12, 0) -> Head (0, 15, 0); the crown 0.2 m (2 file units) on along that line.
    np.testing.assert_allclose(rest_pose[J["head_top"]], 0.1 * zup(0, 17, 0), atol=1e-5)
    # Turned: Head at (-3, 12, 0), the line points along -x.
    np.testing.assert_allclose(turned_pose[J["neck_nose"]], 0.1 * zup(-3, 12, 0), atol=1e-5)
    np.testing.assert_allclose(turned_pose[J["head_top"]], 0.1 * zup(-5, 12, 0), atol=1e-5)


def test_bvh_unknown_joint_is_a_clear_error(tmp_path):
    write_cmu_bvh(tmp_path / "tiny.bvh", [[0, 10, 0, 0, 0, 0] + [0] * 42])
    mapping = {**dict.fromkeys(("right_hip",), "Pelvis")}
    with pytest.raises(ValueError, match="must name exactly"):
        load_bvh(tmp_path / "tiny.bvh", mapping)
    from engines.data.mocap.bvh import CMU_JOINTS
    with pytest.raises(ValueError, match="no BVH joint 'Neck1'"):
        load_bvh(tmp_path / "tiny.bvh", {**CMU_JOINTS, "neck_nose": "Neck1"})


# --- C3D ------------------------------------------------------------------------------------------

# Right-side markers in metres, Z up, subject facing +y (so the left side is at -x).
RIGHT_MARKERS = {
    "FWT": (0.12, 0.05, 1.0), "BWT": (0.05, -0.10, 1.0),
    "KNE": (0.17, 0.0, 0.5), "KNI": (0.07, 0.0, 0.5), "ANK": (0.12, 0.0, 0.08),
    "FSH": (0.18, 0.05, 1.4), "BSH": (0.18, -0.05, 1.4),
    "ELB": (0.22, 0.0, 1.1), "IEL": (0.16, 0.0, 1.1), "OWR": (0.21, 0.0, 0.85), "IWR": (0.17, 0.0, 0.85),
    "FHD": (0.07, 0.08, 1.6), "BHD": (0.07, -0.08, 1.6),
}


def static_markers() -> dict[str, np.ndarray]:
    markers = {"ARIEL": np.array([0.0, 0.0, 1.7]), "C7": np.array([0.0, -0.1, 1.45])}
    for name, (x, y, z) in RIGHT_MARKERS.items():
        markers["R" + name] = np.array([x, y, z])
        markers["L" + name] = np.array([-x, y, z])
    return markers


def write_c3d(path: Path, markers: dict[str, np.ndarray], frames: int, fps: float,
              gaps: dict[str, slice] | None = None) -> None:
    """The static marker set walking along +y at 0.5 m/s, in millimetres, 'Sub:' prefixed."""
    t = np.arange(frames) / fps
    points = np.ones((4, len(markers), frames))
    for m, position in enumerate(markers.values()):
        points[:3, m] = 1000 * (position[:, None] + np.outer([0, 0.5, 0], t))
    for name, frames_missing in (gaps or {}).items():
        points[:3, list(markers).index(name), frames_missing] = np.nan
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [fps]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = tuple(f"Sub:{name}" for name in markers)
    c3d["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    c3d["data"]["points"] = points
    c3d.write(str(path))


def test_c3d_joint_centre_rules_by_hand(tmp_path):
    markers = static_markers()
    write_c3d(tmp_path / "walk.c3d", markers, frames=40, fps=100.0, gaps={"RKNI": slice(10, 15)})
    positions, fps, gaps = load_c3d(tmp_path / "walk.c3d")
    assert positions.shape == (40, 17, 3) and fps == 100.0
    assert gaps == {"rigid_filled": 5, "interpolated": 0, "trimmed_start": 0, "trimmed_end": 0}
    shift = np.outer(np.arange(40) / 100.0 * 0.5, [0, 1, 0])
    expected = {
        # Harrington: PW = 0.24, PD = 0.15 -> 0.0459 back, 0.0829 down, 0.0865 lateral of mid-ASIS.
        "right_hip": (0.0865, 0.05 - 0.0459, 1.0 - 0.0829), "left_hip": (-0.0865, 0.0041, 0.9171),
        "right_knee": (0.12, 0.0, 0.5), "right_ankle": (0.08, 0.0, 0.08),  # 40 mm medial of RANK
        "left_ankle": (-0.08, 0.0, 0.08), "neck_nose": (0.0, 0.08, 1.53), "head_top": (0.0, 0.0, 1.7),
        "right_shoulder": (0.18, 0.0, 1.4), "left_elbow": (-0.19, 0.0, 1.1),
        "right_wrist": (0.19, 0.0, 0.85), "pelvis": (0.0, 0.0041, 0.9171),
    }
    for joint, xyz in expected.items():
        np.testing.assert_allclose(positions[:, J[joint]], np.asarray(xyz) + shift, atol=1e-5,
                                   err_msg=joint)


def test_c3d_user_mapping_and_missing_marker(tmp_path):
    markers = static_markers()
    write_c3d(tmp_path / "walk.c3d", markers, frames=20, fps=100.0)
    simple = {**VICON_53, "right_hip": ("RFWT", "RBWT"), "head_top": "ARIEL"}
    positions, _, _ = load_c3d(tmp_path / "walk.c3d", simple)
    np.testing.assert_allclose(positions[0, J["right_hip"]], (0.085, -0.025, 1.0), atol=1e-5)
    with pytest.raises(ValueError, match=r"markers \['RASI'\] not in the C3D"):
        load_c3d(tmp_path / "walk.c3d", {**VICON_53, "right_hip": "RASI"})


def test_c3d_gap_too_long_inside_the_clip_is_an_error(tmp_path):
    markers = static_markers()
    # Every marker gone for 0.5 s: nothing to carry them rigidly, too long to interpolate.
    gaps = {name: slice(10, 60) for name in markers}
    write_c3d(tmp_path / "walk.c3d", markers, frames=80, fps=100.0, gaps=gaps)
    with pytest.raises(ValueError, match="still miss markers"):
        load_c3d(tmp_path / "walk.c3d")


# --- DeepMimic ------------------------------------------------------------------------------------

def write_humanoid_urdf(path: Path) -> None:
    """The DeepMimic humanoid's joint tree with round offsets (urdf units, 4x metres)."""
    joints = [("chest", "spherical", "root", "0 1 0"), ("neck", "spherical", "chest", "0 0.8 0")]
    for side, z in (("right", 0.4), ("left", -0.4)):
        joints += [(f"{side}_hip", "spherical", "root", f"0 0 {z}"),
                   (f"{side}_knee", "revolute", f"{side}_hip", "0 -1.6 0"),
                   (f"{side}_ankle", "spherical", f"{side}_knee", "0 -1.6 0"),
                   (f"{side}_shoulder", "spherical", "chest", f"0 0.8 {2 * z}"),
                   (f"{side}_elbow", "revolute", f"{side}_shoulder", "0 -1.2 0"),
                   (f"{side}_wrist", "fixed", f"{side}_elbow", "0 -1.0 0")]
    links = "".join(f'<link name="{name}"/>' for name, *_ in joints if name != "neck")
    xml = ['<robot name="h"><link name="base"/><link name="root"/>', links,
           '<link name="neck"><collision><origin rpy="0 0 0" xyz="0 0.6 0"/>'
           '<geometry><sphere radius="0.4"/></geometry></collision></link>',
           '<joint name="root" type="fixed"><parent link="base"/><child link="root"/>'
           '<origin rpy="0 0 0" xyz="0 0 0"/></joint>']
    for name, kind, parent, xyz in joints:
        xml.append(f'<joint name="{name}" type="{kind}"><parent link="{parent}"/>'
                   f'<child link="{name}"/><origin rpy="0 0 0" xyz="{xyz}"/>'
                   f'<axis xyz="0 0 1"/></joint>')
    path.write_text("".join(xml) + "</robot>\0")  # pybullet's file ends in a NUL byte too


def deepmimic_frame(duration, root=(0, 0.9, 0), root_quat=(1, 0, 0, 0), right_knee=0.0):
    identity = [1, 0, 0, 0]
    return ([duration, *root, *root_quat] + identity * 2  # root, chest, neck
            + identity + [right_knee] + identity * 2 + [0.0]  # right hip knee ankle shoulder elbow
            + identity + [0.0] + identity * 2 + [0.0])  # left hip knee ankle shoulder elbow


def test_deepmimic_forward_kinematics_by_hand(tmp_path):
    write_humanoid_urdf(tmp_path / "humanoid.urdf")
    half = np.sqrt(0.5)
    frames = [deepmimic_frame(0.5), deepmimic_frame(0.5, root_quat=(half, 0, half, 0)),
              deepmimic_frame(0.0, right_knee=np.pi / 2)]
    (tmp_path / "motion.txt").write_text(json.dumps({"Loop": "none", "Frames": frames}))
    humanoid = deepmimic.read_humanoid(tmp_path / "humanoid.urdf")
    positions, source_fps, count = deepmimic.load_motion(tmp_path / "motion.txt", humanoid, fps=2.0)
    assert positions.shape == (3, 17, 3) and source_fps == 2.0 and count == 3
    rest, turned, bent = positions.astype(np.float64)
    # Offsets x 0.25 from the root at (0, 0.9, 0), Y up, right side at +z.
    for joint, xyz in {"right_hip": (0, 0.9, 0.1), "right_knee": (0, 0.5, 0.1),
                       "right_ankle": (0, 0.1, 0.1), "left_shoulder": (0, 1.35, -0.2),
                       "left_wrist": (0, 0.8, -0.2), "neck_nose": (0, 1.5, 0),
                       "head_top": (0, 1.6, 0), "thorax": (0, 1.35, 0)}.items():
        np.testing.assert_allclose(rest[J[joint]], zup(*xyz), atol=1e-6, err_msg=joint)
    # Root turned 90 deg about +y: the hip offset (0, 0, 0.1) goes to (0.1, 0, 0).
    np.testing.assert_allclose(turned[J["right_hip"]], zup(0.1, 0.9, 0), atol=1e-6)
    # Right knee 90 deg about +z: the shin (0, -0.4, 0) goes to (0.4, 0, 0).
    np.testing.assert_allclose(bent[J["right_ankle"]], zup(0.4, 0.5, 0.1), atol=1e-6)


def test_deepmimic_resamples_rotations_not_positions(tmp_path):
    write_humanoid_urdf(tmp_path / "humanoid.urdf")
    frames = [deepmimic_frame(1.0), deepmimic_frame(0.0, right_knee=np.pi / 2)]
    (tmp_path / "motion.txt").write_text(json.dumps({"Loop": "none", "Frames": frames}))
    humanoid = deepmimic.read_humanoid(tmp_path / "humanoid.urdf")
    positions, _, _ = deepmimic.load_motion(tmp_path / "motion.txt", humanoid, fps=2.0)
    # Halfway, the knee is at 45 degrees and the shin keeps its 0.4 m length.
    shin = 0.4 * np.array([np.sin(np.pi / 4), -np.cos(np.pi / 4), 0])
    np.testing.assert_allclose(positions[1, J["right_ankle"]], zup(*(np.array([0, 0.5, 0.1]) + shin)),
                               atol=1e-6)


# --- holosoma ------------------------------------------------------------------------------------

def test_holosoma_reads_joint_order_from_the_package(tmp_path):
    names = ["Neck", "Spine", *holosoma.MIXAMO_JOINTS.values(), "LeftHandThumb1"][::-1]
    source = tmp_path / holosoma.JOINT_LIST_FILE
    source.parent.mkdir(parents=True)
    source.write_text(f"OTHER = [1]\n{holosoma.JOINT_LIST_NAME} = {names!r}\n")
    assert holosoma.joint_names(tmp_path) == names
    data = np.arange(5 * len(names) * 3, dtype=np.float32).reshape(5, len(names), 3)
    np.save(tmp_path / "clip.npy", data)
    positions = holosoma.load_joint_positions(tmp_path / "clip.npy", names)
    column = {name: data[:, names.index(name)] for name in names}
    np.testing.assert_allclose(positions[:, J["left_knee"]], column["LeftLeg"])
    np.testing.assert_allclose(positions[:, J["head_top"]], 2 * column["Head"] - column["Neck"])
    np.testing.assert_allclose(positions[:, J["pelvis"]],
                               (column["LeftUpLeg"] + column["RightUpLeg"]) / 2)
    with pytest.raises(ValueError, match="expected"):
        holosoma.load_joint_positions(tmp_path / "clip.npy", names[:-1])


# --- checks ----------------------------------------------------------------------------------------

def test_checks_pass_a_plausible_walker():
    results = run_checks(walking_pose_clip(), "skeleton")
    require_ok(results, "walker")
    assert results["left_right"]["value"] == pytest.approx(1.0)
    assert 1.6 < results["height_m"]["value"] < 1.9


@pytest.mark.parametrize("corrupt, failing", [
    (lambda p: p[:, FLIP_PERMUTATION], "left_right"),  # sides swapped
    (lambda p: p * [-1, 1, 1], "left_right"),  # mirrored
    (lambda p: p * [1, -1, -1], "upright"),  # upside down (180 deg about x)
    (lambda p: p * 0.5, "height_m"),  # wrong units
    (lambda p: p + np.random.default_rng(0).normal(0, 0.03, p.shape), "bone_cv"),  # jittery
])
def test_checks_catch_broken_clips(corrupt, failing):
    positions = corrupt(walking_pose_clip().astype(np.float64)).astype(np.float32)
    results = run_checks(positions, "skeleton")
    assert not results[failing]["ok"]
    with pytest.raises(ClipCheckError, match=failing):
        require_ok(results, "broken")


def test_checks_reject_non_finite_positions():
    positions = walking_pose_clip()
    positions[3, 4, 2] = np.nan
    assert not run_checks(positions, "markers")["finite"]["ok"]


# --- user clips, cache and rendering ----------------------------------------------------------------

def test_load_user_clip_npz_bvh_and_c3d(tmp_path):
    np.savez(tmp_path / "mine.npz", positions=walking_pose_clip(frames=100, fps=100.0), fps=100.0)
    clip = load_user_clip(tmp_path / "mine.npz", fps=50.0)
    assert clip.name == "user__mine" and clip.fps == 50.0 and clip.positions.shape == (50, 17, 3)
    assert clip.meta["checks"]["left_right"]["ok"]

    np.save(tmp_path / "bare.npy", walking_pose_clip())
    with pytest.raises(ValueError, match="source_fps"):
        load_user_clip(tmp_path / "bare.npy")
    assert len(load_user_clip(tmp_path / "bare.npy", source_fps=25.0, fps=50.0).positions) == 199

    np.save(tmp_path / "wrong.npy", np.zeros((10, 33, 3)))
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        load_user_clip(tmp_path / "wrong.npy", source_fps=30.0)
    with pytest.raises(ValueError, match="unsupported mocap file type"):
        load_user_clip(tmp_path / "mine.fbx")

    write_cmu_bvh(tmp_path / "tiny.bvh", [[0, 10, 0, 0, 0, 0] + [0] * 42] * 3)
    clip = load_user_clip(tmp_path / "tiny.bvh", fps=50.0, scale=0.1, check=False)
    assert clip.positions.shape == (2, 17, 3) and clip.meta["original_fps"] == 100.0
    with pytest.raises(ClipCheckError, match="height_m"):  # a 0.7 m figure: wrong units
        load_user_clip(tmp_path / "tiny.bvh", fps=50.0, scale=0.05)
    write_cmu_bvh(tmp_path / "lafan.bvh", [[0, 10, 0, 0, 0, 0] + [0] * 42] * 3, head_end="0 0 0")
    clip = load_user_clip(tmp_path / "lafan.bvh", fps=50.0, scale=0.1, check=False)
    head = clip.positions[:, J["head_top"]] - clip.positions[:, J["neck_nose"]]
    np.testing.assert_allclose(head, np.tile(zup(0, BARE_END_M, 0), (2, 1)), atol=1e-5)  # on along the neck

    write_c3d(tmp_path / "walk.c3d", static_markers(), frames=20, fps=100.0)
    clip = load_user_clip(tmp_path / "walk.c3d", fps=50.0, check=False)
    assert clip.positions.shape == (10, 17, 3) and clip.meta["gaps"]["rigid_filled"] == 0


def test_cache_round_trip_and_tamper_detection(tmp_path):
    clip = Clip("synthetic", "walk", walking_pose_clip(), 50.0)
    manifest = cache.new_manifest(50.0)
    file, sha = cache.write_clip(tmp_path, clip)
    manifest["clips"][clip.name] = {"file": file, "sha256": sha, "source": "synthetic", "clip": "walk"}
    cache.write_manifest(tmp_path, manifest)
    (loaded,) = load_cache(tmp_path)
    assert loaded.name == "synthetic__walk" and loaded.fps == 50.0
    np.testing.assert_array_equal(loaded.positions, clip.positions)
    np.savez(tmp_path / file, positions=clip.positions[:10], fps=50.0, source="synthetic", clip="walk")
    with pytest.raises(ValueError, match="does not match its manifest checksum"):
        load_cache(tmp_path)
    with pytest.raises(FileNotFoundError, match="fetch_mocap"):
        load_cache(tmp_path / "empty")


def test_render_writes_a_png(tmp_path):
    path = render_frame(Clip("synthetic", "walk", walking_pose_clip(), 50.0), tmp_path / "walk.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_fetch_rejects_unknown_sources(tmp_path):
    with pytest.raises(ValueError, match="unknown mocap sources"):
        fetch_all(tmp_path, sources=["h36m"])


# --- the real data ---------------------------------------------------------------------------------

def _apt_reachable(package: str) -> bool:
    if shutil.which("apt-get") is None:
        return False
    uris = subprocess.run(["apt-get", "download", "--print-uris", package],
                          capture_output=True, text=True).stdout
    match = re.search(r"'(https?)://([^/:']+)", uris)
    if match is None:
        return False
    try:
        socket.create_connection((match[2], 443 if match[1] == "https" else 80), timeout=3).close()
    except OSError:
        return False
    return True


def test_repo_cache_holds_every_clip_checked():
    if not (REPO_CACHE / cache.MANIFEST).exists():
        pytest.skip(f"no mocap cache at {REPO_CACHE}; run tools/fetch_mocap.py")
    clips = {clip.name: clip for clip in load_cache(REPO_CACHE)}
    expected = {f"{s.name}__{c}" for s in SOURCES.values() for c in s.clips}
    assert set(clips) == expected
    assert {"dart__squat", "assimp__Boxing_Toes"} <= set(clips)  # the trainer's held-out clips
    for clip in clips.values():
        assert all(check["ok"] for check in clip.meta["checks"].values()), clip.name
        assert clip.positions.dtype == np.float32 and np.isfinite(clip.positions).all()


def test_real_fetch_of_dart_is_idempotent(tmp_path, capsys):
    if not _apt_reachable("dart-doc"):
        pytest.skip("Debian archive not reachable")
    first = fetch_all(tmp_path, fps=50, sources=["dart"])
    assert set(first["clips"]) == {"dart__nick_freeform_001", "dart__squat"}
    squat = first["clips"]["dart__squat"]
    assert squat["original_fps"] == 120.0 and squat["original_frames"] == 2539
    assert squat["frames"] == 1058 and squat["licence"].startswith("BSD-2-clause")
    assert (tmp_path / "renders" / "dart__squat.png").exists()
    capsys.readouterr()
    assert fetch_all(tmp_path, fps=50, sources=["dart"]) == first
    assert "dart: cached" in capsys.readouterr().out


@pytest.mark.slow
def test_real_fetch_of_every_source(tmp_path):
    if not _apt_reachable("assimp-testmodels"):
        pytest.skip("Debian archive not reachable")
    manifest = fetch_all(tmp_path, fps=50)
    assert len(manifest["clips"]) == sum(len(s.clips) for s in SOURCES.values())
    assert not manifest["rejected"]
    assert manifest["joints"] == list(JOINT_NAMES)
