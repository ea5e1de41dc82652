"""BVH, CSV and TRC export, read back by independent parsers (bvhio, Blender when installed)."""
import json
import shutil
import subprocess
import sys
import textwrap

import bvhio
import numpy as np
import pytest

from engines.humanoid import shortest_arc
from engines.motion_export import BVH_NAMES, CAMERA_TO_Y_UP, Motion, load_motion, write_bvh, write_csv, write_trc
from engines.skeleton import BONES, JOINT_INDEX, JOINT_NAMES, PARENTS, bone_lengths
from synthetic_motion import record_session, two_people_recording, walking

BVH_JOINT = {JOINT_INDEX[h36m]: name for h36m, name in BVH_NAMES.items()}


def bvhio_positions(path) -> np.ndarray:
    """(frames, 17, 3) joint and End Site positions as bvhio poses them (file units)."""
    container = bvhio.readAsBvh(str(path))
    lengths = {joint.Name: joint.getLength() for joint, _, _ in container.Root.layout()}
    root = bvhio.convertBvhToHierarchy(container.Root).loadRestPose(recursive=True)
    posed = {joint.Name: joint for joint, _, _ in root.layout()}
    out = np.zeros((container.FrameCount, 17, 3))
    for frame in range(container.FrameCount):
        root.loadPose(frame, recursive=True)
        for j in range(17):
            if j in BVH_JOINT:
                out[frame, j] = tuple(posed[BVH_JOINT[j]].PositionWorld)
            else:  # an End Site: bvhio turns each joint so its local +Y points at its tip
                parent = posed[BVH_JOINT[PARENTS[j]]]
                out[frame, j] = tuple(parent.PositionWorld + parent.UpWorld * lengths[BVH_JOINT[PARENTS[j]]])
    return out


@pytest.fixture(scope="module")
def walk():
    poses, root = walking(90, fps=30.0)
    return Motion(poses, 30.0, root)


@pytest.mark.parametrize("units", ["m", "cm"])
def test_bvh_of_a_rigid_skeleton_reads_back_within_a_millimetre(tmp_path, walk, units):
    path = write_bvh(tmp_path / "walk.bvh", walk, units)
    scale = {"m": 1.0, "cm": 100.0}[units]
    error_mm = np.linalg.norm(bvhio_positions(path) / scale - walk.positions(), axis=-1) * 1000
    assert error_mm.max() < 1.0
    text = path.read_text()
    assert "ROOT Hips" in text and text.count("End Site") == 5 and "Frame Time: 0.03333333" in text
    assert text.count("CHANNELS 3 Zrotation Xrotation Yrotation") == 12  # with the Neck at the thorax


def test_bvh_keeps_directions_with_median_bone_lengths_for_a_non_rigid_input(tmp_path, walk):
    rng = np.random.default_rng(1)
    positions = walk.pose3d.copy()
    for parent, child in BONES:  # stretch each bone by a few per cent, differently every frame
        stretch = rng.uniform(-0.04, 0.04, (len(positions), 1))
        subtree = [j for j in range(17) if _descends(j, child)]
        positions[:, subtree] += stretch[:, None] * (positions[:, [child]] - positions[:, [parent]])
    motion = Motion(positions, 30.0)
    got = bvhio_positions(write_bvh(tmp_path / "stretchy.bvh", motion))
    lengths = bone_lengths(got)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.median(bone_lengths(motion.positions()), 0), lengths.shape),
                               atol=1e-5)
    single = [c for p, c in BONES if sum(q == p for q in PARENTS) == 1]
    want = motion.positions()
    for child in single:
        d_got = got[:, child] - got[:, PARENTS[child]]
        d_want = want[:, child] - want[:, PARENTS[child]]
        cos = np.sum(d_got * d_want, -1) / np.linalg.norm(d_got, axis=-1) / np.linalg.norm(d_want, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0, JOINT_NAMES[child]


def _descends(joint: int, ancestor: int) -> bool:
    while joint >= 0:
        if joint == ancestor:
            return True
        joint = PARENTS[joint]
    return False


def test_shortest_arc_handles_opposite_directions():
    rest = np.array([0.0, -1.0, 0.0])
    targets = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    rotations = shortest_arc(rest, targets)
    np.testing.assert_allclose(rotations @ rest, targets, atol=1e-12)
    angles = np.degrees(np.arccos(np.clip((np.trace(rotations, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    np.testing.assert_allclose(angles, [0, 90, 180], atol=1e-6)


BLENDER_READ = textwrap.dedent("""
    import builtins, json, sys
    import bpy
    import io_anim_bvh.import_bvh as importer
    # Debian's Blender 3.4 runs on Python 3.11, which has no 'U' file mode its BVH importer asks for.
    importer.open = lambda path, mode="r", *a, **k: builtins.open(path, mode.replace("U", ""), *a, **k)
    src, out = sys.argv[sys.argv.index("--") + 1:]
    bpy.ops.import_anim.bvh(filepath=src, global_scale=1.0, rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y",
                            use_fps_scale=False, update_scene_fps=True, update_scene_duration=True)
    armature, scene = bpy.context.object, bpy.context.scene
    first, last = (int(f) for f in armature.animation_data.action.frame_range)
    frames = []
    for frame in range(first, last + 1):
        scene.frame_set(frame)
        frames.append({b.name: [list(armature.matrix_world @ b.head), list(armature.matrix_world @ b.tail)]
                       for b in armature.pose.bones})
    json.dump({"fps": scene.render.fps, "frames": frames}, open(out, "w"))
""")


@pytest.mark.skipif(shutil.which("blender") is None, reason="Blender is not installed (apt-get install blender)")
def test_blender_imports_the_bvh_within_a_millimetre(tmp_path, walk):
    path = write_bvh(tmp_path / "walk.bvh", walk)
    script, out = tmp_path / "read.py", tmp_path / "blender.json"
    script.write_text(BLENDER_READ)
    subprocess.run(["blender", "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(script),
                    "--", str(path), str(out)], check=True, capture_output=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["fps"] == 30 and len(result["frames"]) == len(walk.pose3d)
    got = np.array([[bones[BVH_JOINT[j]][0] if j in BVH_JOINT else bones[BVH_JOINT[PARENTS[j]]][1]
                     for j in range(17)] for bones in result["frames"]])
    want = walk.positions()
    want = np.stack([want[..., 0], -want[..., 2], want[..., 1]], -1)  # Blender turns Y-up into Z-up
    assert np.linalg.norm(got - want, axis=-1).max() * 1000 < 1.0


def test_csv_header_and_values(tmp_path, walk):
    path = write_csv(tmp_path / "walk.csv", walk, units="mm")
    lines = path.read_text().splitlines()
    assert lines[1:3] == ["# units: mm", "# fps: 30"] and "y up" in lines[3]
    columns = lines[4].split(",")
    assert columns[:5] == ["frame", "time_s", "pelvis_x", "pelvis_y", "pelvis_z"] and columns[-1] == "right_wrist_z"
    table = np.loadtxt(path, delimiter=",", comments="#", skiprows=5)
    assert table.shape == (90, 2 + 51)
    np.testing.assert_allclose(table[:, 1], np.arange(90) / 30, atol=1e-6)
    np.testing.assert_allclose(table[:, 2:].reshape(90, 17, 3), walk.positions() * 1000, atol=1e-5)


def test_trc_header_and_values(tmp_path, walk):
    path = write_trc(tmp_path / "walk.trc", walk)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["PathFileType", "4", "(X/Y/Z)", "walk.trc"]
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t")))
    assert header == {"DataRate": "30", "CameraRate": "30", "NumFrames": "90", "NumMarkers": "17", "Units": "m",
                      "OrigDataRate": "30", "OrigDataStartFrame": "1", "OrigNumFrames": "90"}
    assert [name for name in lines[3].split("\t")[2:] if name] == list(JOINT_NAMES)
    assert lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"] and lines[5] == ""
    rows = np.array([line.split("\t") for line in lines[6:]], dtype=float)
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 91))
    np.testing.assert_allclose(rows[:, 2:].reshape(90, 17, 3), walk.positions(), atol=1e-6)


def test_root_gaps_are_interpolated_and_a_missing_root_puts_the_pelvis_at_the_origin(walk):
    root = walk.root.copy()
    root[[0, 10, 11]] = np.nan
    pelvis = Motion(walk.pose3d, 30.0, root).positions()[:, 0]  # the walker's pose3d pelvis is 0
    np.testing.assert_allclose(pelvis[10], (walk.root[9] + (walk.root[12] - walk.root[9]) / 3) * CAMERA_TO_Y_UP)
    np.testing.assert_allclose(pelvis[0], walk.root[1] * CAMERA_TO_Y_UP)
    assert not Motion(walk.pose3d, 30.0, np.full_like(root, np.nan)).has_root
    np.testing.assert_array_equal(Motion(walk.pose3d, 30.0).positions()[:, 0], 0.0)
    with pytest.raises(ValueError, match="not finite in 1 frames"):
        Motion(np.where(np.arange(90)[:, None, None] == 5, np.nan, walk.pose3d), 30.0)


def test_load_a_recording_and_export_it_from_the_command_line(tmp_path):
    session = tmp_path / "session.npz"
    record_session(session, frames=20, fps=30.0, stream_ids=("cam0", "cam1"))
    with pytest.raises(ValueError, match="choose one"):
        load_motion(session)
    motion = load_motion(session, "cam1")
    assert (len(motion.pose3d), motion.fps, motion.filled_frames) == (20, 30.0, 0) and motion.has_root
    # a lift-style file without a frame rate, with a gap in seq
    lifted = tmp_path / "lifted.npz"
    np.savez(lifted, pose3d=motion.pose3d[[0, 1, 4, 5]], seq=np.array([10, 11, 14, 15]))
    with pytest.raises(ValueError, match="frame rate"):
        load_motion(lifted)
    gappy = load_motion(lifted, fps=25.0)
    assert len(gappy.pose3d) == 6 and gappy.filled_frames == 2 and gappy.root is None
    np.testing.assert_allclose(gappy.pose3d[2], (2 * motion.pose3d[1] + motion.pose3d[4]) / 3, atol=1e-6)

    cli = [sys.executable, "tools/export_motion.py"]
    done = subprocess.run(cli + [str(session), "--stream", "cam0", "--bvh", str(tmp_path / "a.bvh"),
                                 "--trc", str(tmp_path / "a.trc")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "20 frames at 30 fps" in done.stdout and (tmp_path / "a.bvh").is_file() and (tmp_path / "a.trc").is_file()
    failed = subprocess.run(cli + [str(lifted), "--csv", str(tmp_path / "b.csv")], capture_output=True, text=True,
                            timeout=120)
    assert failed.returncode == 2 and failed.stderr.startswith("error: ") and "frame rate" in failed.stderr


def test_a_bare_npy_of_poses_is_read_with_the_rate_given(tmp_path, walk):
    pose3d = walk.pose3d
    np.save(tmp_path / "pose3d.npy", pose3d)
    motion = load_motion(tmp_path / "pose3d.npy", fps=30.0)
    np.testing.assert_allclose(motion.pose3d, pose3d)
    assert motion.fps == 30.0 and not motion.has_root
    with pytest.raises(ValueError, match="does not say its frame rate"):
        load_motion(tmp_path / "pose3d.npy")


def test_a_session_of_two_people_exports_one_of_them(tmp_path):
    """One skeleton is one person: the most frequent, or the one asked for; never both joined."""
    session = two_people_recording(tmp_path / "session.npz", frames=(14, 12))
    most = load_motion(session)
    assert (most.person, len(most.pose3d), most.other_people) == (0, 14, {1: 12})
    np.testing.assert_array_equal(most.pose3d, np.load(session)["pose3d"][:14])
    assert len(load_motion(session, person=1).pose3d) == 12
    with pytest.raises(ValueError, match=r"no person 7 \(people: \[0, 1\]\)"):
        load_motion(session, person=7)


def test_the_export_warns_of_root_jumps_and_reports_bone_length_variation(tmp_path, walk):
    root = walk.root.copy()
    root[40:] += (2.5, 0.0, 0.0)  # the pelvis 2.5 m away from one frame to the next
    np.savez(tmp_path / "jumpy.npz", pose3d=walk.pose3d, root=root, fps=30.0)
    done = subprocess.run([sys.executable, "tools/export_motion.py", str(tmp_path / "jumpy.npz"), "--bvh",
                           str(tmp_path / "a.bvh")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pelvis jumps more than 0.5 m from one frame to the next 1 times (first at frame 40)" in done.stderr
    assert "bone lengths over the clip vary by 0.0 %" in done.stdout  # the synthetic walker is rigid
    assert Motion(walk.pose3d, 30.0, root).root_jumps().tolist() == [40]
