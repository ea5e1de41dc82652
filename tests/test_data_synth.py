"""Training-pair maths: augmentation, virtual cameras, projection, normalisation, noise."""
from __future__ import annotations

import numpy as np
import pytest

from engines.data import synth
from engines.data.camera import look_at, project, world_to_camera
from engines.data.mocap.clip import Clip
from engines.skeleton import FLIP_PERMUTATION, JOINT_INDEX, bone_lengths, normalize_screen


def walking_clip(seconds: float = 4.0, fps: float = 50.0, seed: int = 0, name: str = "walk") -> Clip:
    """A procedural walker (metres, Z up, facing its direction of travel): legs and arms swing in
    opposite phase, the pelvis bobs, and the heading turns slowly. Enough motion to learn from."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps)) / fps
    omega = 2 * np.pi * rng.uniform(0.8, 1.2)
    speed, turn = rng.uniform(0.8, 1.6), rng.uniform(-0.4, 0.4)

    def swing(amplitude, phase):
        return amplitude * np.sin(omega * t + phase)

    def limb(start, angle, length):  # a segment hanging from start, swung forward by angle (+x)
        return start + length * np.stack([np.sin(angle), np.zeros_like(t), -np.cos(angle)], -1)

    pelvis = np.stack([np.zeros_like(t), np.zeros_like(t), 0.95 + 0.02 * np.sin(2 * omega * t)], -1)
    joints = {"pelvis": pelvis}
    for side, y, phase in (("left", 0.12, 0.0), ("right", -0.12, np.pi)):
        hip = pelvis + [0, y, 0]
        thigh = swing(0.45, phase)
        knee = limb(hip, thigh, 0.45)
        joints |= {f"{side}_hip": hip, f"{side}_knee": knee,
                   f"{side}_ankle": limb(knee, thigh - 0.35 * (1 + np.sin(omega * t + phase + 1.0)), 0.44)}
    thorax = pelvis + [0, 0, 0.5]
    joints |= {"thorax": thorax, "spine": (pelvis + thorax) / 2, "neck_nose": thorax + [0.06, 0, 0.16],
               "head_top": thorax + [0.0, 0, 0.36]}
    for side, y, phase in (("left", 0.18, np.pi), ("right", -0.18, 0.0)):
        shoulder = thorax + [0, y, 0]
        upper = swing(0.4, phase)
        elbow = limb(shoulder, upper, 0.28)
        joints |= {f"{side}_shoulder": shoulder, f"{side}_elbow": elbow,
                   f"{side}_wrist": limb(elbow, upper + 0.3 + swing(0.2, phase), 0.25)}
    local = np.stack([joints[name] for name in sorted(JOINT_INDEX, key=JOINT_INDEX.get)], 1)
    heading = turn * t
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    world = local.copy()
    world[..., 0], world[..., 1] = c * local[..., 0] - s * local[..., 1], s * local[..., 0] + c * local[..., 1]
    world[..., :2] += np.cumsum(speed / fps * np.stack([np.cos(heading), np.sin(heading)], -1), 0)[:, None]
    return Clip(source="synthetic", clip=name, positions=world, fps=fps)


@pytest.fixture(scope="module")
def clips():
    return [walking_clip(seed=i, name=f"walk{i}") for i in range(3)]


def test_mirroring_twice_is_identity(clips):
    pose = clips[0].positions[None, :10]
    np.testing.assert_array_equal(synth.mirror(synth.mirror(pose)), pose)
    mirrored = synth.mirror(pose)
    assert np.allclose(mirrored[..., JOINT_INDEX["left_wrist"], 0], -pose[..., JOINT_INDEX["right_wrist"], 0])
    assert FLIP_PERMUTATION[JOINT_INDEX["left_hip"]] == JOINT_INDEX["right_hip"]


def test_rotation_about_gravity_keeps_height_and_bones(clips):
    pose = clips[1].positions[None, :20]
    rotated = synth.rotate_about_gravity(pose, np.array([1.1]))
    np.testing.assert_allclose(rotated[..., 2], pose[..., 2], atol=1e-6)
    np.testing.assert_allclose(bone_lengths(rotated), bone_lengths(pose), atol=1e-5)
    np.testing.assert_allclose(synth.rotate_about_gravity(pose, np.array([2 * np.pi])), pose, atol=1e-5)


def test_bone_scaling_scales_each_bone_and_keeps_torso_midpoints(clips):
    pose = clips[0].positions[None, :5]
    rng = np.random.default_rng(1)
    factors = synth.random_bone_factors(rng, 1, synth.Augmentation())
    scaled = synth.scale_bones(pose, factors)
    np.testing.assert_allclose(bone_lengths(scaled), bone_lengths(pose) * factors[:, None, 1:], rtol=1e-5)
    hips = (scaled[..., JOINT_INDEX["left_hip"], :] + scaled[..., JOINT_INDEX["right_hip"], :]) / 2
    np.testing.assert_allclose(hips, scaled[..., JOINT_INDEX["pelvis"], :], atol=1e-5)


def test_time_warp_plays_faster_and_slower(clips):
    clip = clips[0]
    rng = np.random.default_rng(0)
    normal = synth.sample_windows([clip], rng, 8, 30, warp=(1.0, 1.0))
    fast = synth.sample_windows([clip], rng, 8, 30, warp=(2.0, 2.0))
    step = lambda w: np.linalg.norm(np.diff(w[:, :, 0, :2], axis=1), axis=-1).mean()  # noqa: E731
    assert step(fast) == pytest.approx(2 * step(normal), rel=0.05)


def test_projected_root_lands_where_the_camera_aims():
    eye, target = np.array([[0.0, -4.0, 1.5]]), np.array([[0.0, 0.0, 1.0]])
    rotation = look_at(eye, target)
    cam = world_to_camera(np.array([[[0.0, 0.0, 1.0], [1.0, 0.0, 1.0]]]), rotation, eye[0])
    assert cam[0, 0, 2] == pytest.approx(np.hypot(4.0, 0.5), rel=1e-5)
    pixels = project(cam, np.array([[1000.0, 1000.0]]), np.array([[640.0, 360.0]]))
    np.testing.assert_allclose(pixels[0, 0], [640.0, 360.0], atol=1e-3)
    assert pixels[0, 1, 0] > 640.0  # world +x is image right for a camera looking along +y


def test_pairs_match_skeleton_normalisation_and_targets_are_root_relative(clips):
    rng = np.random.default_rng(3)
    world = synth.augment(synth.sample_windows(clips, rng, 6, 27), rng, synth.Augmentation())
    np.testing.assert_allclose(world[..., 2].min(axis=(1, 2)), 0.0, atol=1e-6)
    cams = synth.sample_cameras(rng, world)
    pose2d, target3d = synth.to_pairs(world, cams, None, None)
    pixels, cam = synth.project_to_image(world, cams)
    for i in range(len(world)):
        w, h = cams.size[i]
        np.testing.assert_allclose(pose2d[i], normalize_screen(pixels[i], w, h), atol=1e-6)
    np.testing.assert_allclose(target3d[..., 0, :], 0.0)
    np.testing.assert_allclose(target3d, cam - cam[:, :, :1], atol=1e-6)
    assert (cam[..., 2] > 0.5).all()
    # Camera y points down: the head is above (smaller y than) the ankles in every frame.
    assert (target3d[..., JOINT_INDEX["head_top"], 1] < target3d[..., JOINT_INDEX["left_ankle"], 1]).all()


def test_detector_noise_is_bounded_and_holds_dropped_joints():
    rng = np.random.default_rng(0)
    clean = np.cumsum(rng.normal(0, 1, (64, 40, 17, 2)), axis=1).astype(np.float32) + 500
    clean[..., 1] += np.linspace(0, 400, 17)[None, None, :]  # ~400 px tall person
    noise = synth.DetectorNoise(drop_prob=0.5, low_conf_prob=0.0, repeat_prob=0.0, jitter=(0.0, 0.0),
                                wander=0.0, joint_offset=0.0)
    noisy = synth.add_detector_noise(clean, rng, noise)
    held = (np.diff(noisy, axis=1) == 0).all(-1)
    assert held.mean() > 0.05  # dropped joints repeat a stale value
    plain = synth.add_detector_noise(clean, rng)
    error = np.linalg.norm(plain - clean, axis=-1)
    assert 0.5 < np.median(error) < 0.05 * 400


def test_make_pairs_shapes_and_lookahead_mix(clips):
    rng = np.random.default_rng(0)
    batch = synth.make_pairs(clips, rng, 512, 81)
    assert batch["pose2d"].shape == (512, 81, 17, 2) and batch["target3d"].shape == (512, 81, 17, 3)
    lookahead = 80 - batch["target_index"]
    assert 0.3 < (lookahead == 0).mean() < 0.5 and (lookahead == 5).mean() > 0.1 and (lookahead == 40).mean() > 0.1
    assert lookahead.min() >= 0 and lookahead.max() <= 40
    assert np.isfinite(batch["pose2d"]).all() and np.abs(batch["pose2d"]).max() < 5


def test_pair_batches_repeat_per_seed_and_differ_per_epoch(clips):
    data = synth.PairBatches(clips, length=2, batch_size=4, num_frames=9, seed=5)
    first = data[0]["pose2d"]
    assert np.array_equal(first, data[0]["pose2d"]) and not np.array_equal(first, data[1]["pose2d"])
    data.set_epoch(1)
    assert not np.array_equal(first, data[0]["pose2d"])


def test_label_swaps_exchange_left_and_right_in_bursts_only():
    rng = np.random.default_rng(0)
    pixels = rng.normal(size=(300, 40, 17, 2)).astype(np.float32)
    quiet = synth.DetectorNoise(swap_arms_prob=0.0, swap_legs_prob=0.0, swap_body_prob=0.5, swap_frames=(3, 3))
    out = synth.add_label_swaps(pixels, rng, quiet)
    changed = (out != pixels).any(axis=(2, 3))  # (windows, frames)
    assert 0.3 < changed.any(1).mean() < 0.7 and set(changed.sum(1)) <= {0, 1, 2, 3}
    swapped = changed.nonzero()
    np.testing.assert_array_equal(out[swapped], pixels[swapped][:, list(FLIP_PERMUTATION)])


def test_limb_rotations_keep_bone_lengths_and_move_only_limbs(clips):
    rng = np.random.default_rng(0)
    windows = synth.sample_windows(clips, rng, 8, 27)
    turned = synth.rotate_limbs(windows, rng, std_deg=15.0)
    np.testing.assert_allclose(bone_lengths(turned), bone_lengths(windows), atol=1e-5)
    torso = [JOINT_INDEX[n] for n in ("pelvis", "spine", "thorax", "neck_nose", "head_top", "left_hip", "right_hip",
                                      "left_shoulder", "right_shoulder")]
    np.testing.assert_array_equal(turned[:, :, torso], windows[:, :, torso])
    assert np.abs(turned - windows).max() > 0.02
    np.testing.assert_array_equal(synth.rotate_limbs(windows, rng, 0.0), windows)


def test_mediapipe_definitions_give_every_window_blazepose_proportions(clips):
    windows = synth.sample_windows(clips, np.random.default_rng(0), 8, 27)
    out = synth.mediapipe_definitions(windows)
    j = JOINT_INDEX
    thigh = np.linalg.norm(out[:, :, j["left_knee"]] - out[:, :, j["left_hip"]], axis=-1)
    length = lambda a, b: np.linalg.norm(out[:, :, j[a]] - out[:, :, j[b]], axis=-1)
    for name, a, b in (("hip_width", "left_hip", "right_hip"), ("shin", "left_knee", "left_ankle"),
                       ("upper_arm", "right_shoulder", "right_elbow"), ("forearm", "left_elbow", "left_wrist")):
        np.testing.assert_allclose(np.median(length(a, b) / thigh), synth.MEDIAPIPE_PROPORTIONS[name], rtol=0.05)


def test_turn_heads_by_hand_keeps_bones_and_every_other_joint():
    clip = walking_clip(seconds=1.0)  # faces +x; nose 0.06 ahead of and 0.16 above the thorax
    leans = synth.head_leans(clip.positions)
    np.testing.assert_allclose(leans[:, 0], np.degrees(np.arctan2(0.06, 0.16)), atol=1e-3)
    np.testing.assert_allclose(leans[:, 1], np.degrees(np.arctan2(-0.06, 0.20)), atol=1e-3)
    turned = synth.turn_heads(clip.positions, 10.0, -5.0)
    np.testing.assert_allclose(synth.head_leans(turned), leans + [10.0, -5.0], atol=1e-3)
    np.testing.assert_allclose(bone_lengths(turned), bone_lengths(clip.positions), atol=1e-6)
    others = [j for j in range(17) if j not in (JOINT_INDEX["neck_nose"], JOINT_INDEX["head_top"])]
    np.testing.assert_array_equal(turned[:, others], clip.positions[:, others])
    # the turn stays in the sagittal plane: the neck's part along the hips' line is kept
    hips = clip.positions[:, JOINT_INDEX["right_hip"]] - clip.positions[:, JOINT_INDEX["left_hip"]]
    sideways = lambda p: ((p[:, JOINT_INDEX["neck_nose"]] - p[:, JOINT_INDEX["thorax"]]) * hips).sum(-1)
    np.testing.assert_allclose(sideways(turned), sideways(clip.positions), atol=1e-6)


def test_mediapipe_heads_sets_the_median_leans_and_keeps_the_nodding():
    clip = walking_clip(seconds=2.0)
    t = np.arange(len(clip.positions)) / clip.fps
    nod = np.radians(20 + 10 * np.sin(2 * np.pi * t))
    thorax = clip.positions[:, JOINT_INDEX["thorax"]]
    positions = clip.positions.copy()
    positions[:, JOINT_INDEX["neck_nose"]] = thorax + 0.17 * np.stack([np.sin(nod), 0 * nod, np.cos(nod)], -1)
    before, after = synth.head_leans(positions), synth.head_leans(synth.mediapipe_heads(positions))
    target = [synth.MEDIAPIPE_HEAD_LEAN_DEG["neck"], synth.MEDIAPIPE_HEAD_LEAN_DEG["head"]]
    np.testing.assert_allclose(np.median(after, 0), target, atol=1e-3)
    np.testing.assert_allclose(after - np.median(after, 0), before - np.median(before, 0), atol=1e-3)
    heads = synth.with_mediapipe_heads([Clip("walk", "nod", positions, clip.fps)])
    np.testing.assert_allclose(np.median(synth.head_leans(heads[0].positions), 0), target, atol=1e-3)


def test_mixed_bodies_keep_the_legs_and_set_the_other_upper_body_on_the_pelvis_facing_the_same_way(clips):
    rng = np.random.default_rng(0)
    lower = synth.sample_windows(clips, rng, 6, 27)
    upper = synth.rotate_about_gravity(synth.sample_windows(clips, rng, 6, 27), rng.uniform(0, 6, 6))
    mixed = synth.mix_bodies(lower, upper, rng, prob=1.0)
    legs, top = list(range(JOINT_INDEX["spine"])), list(range(JOINT_INDEX["spine"], 17))
    np.testing.assert_array_equal(mixed[:, :, legs], lower[:, :, legs])
    # the upper body's own shape is kept: its bones, and its joints' heights above the pelvis
    np.testing.assert_allclose(bone_lengths(mixed)[..., top[0] - 1:], bone_lengths(upper)[..., top[0] - 1:], atol=1e-5)
    np.testing.assert_allclose(mixed[..., top, 2] - mixed[..., :1, 2], upper[..., top, 2] - upper[..., :1, 2], atol=1e-5)
    # turned so the shoulders face the way the legs' hips face (these upper bodies face their hips' way)
    shoulders = mixed[:, :, JOINT_INDEX["left_shoulder"]] - mixed[:, :, JOINT_INDEX["right_shoulder"]]
    hips = lower[:, :, JOINT_INDEX["left_hip"]] - lower[:, :, JOINT_INDEX["right_hip"]]
    cos = (shoulders[..., :2] * hips[..., :2]).sum(-1) / np.linalg.norm(shoulders[..., :2], axis=-1) / np.linalg.norm(hips[..., :2], axis=-1)
    assert cos.min() > 0.8
    np.testing.assert_array_equal(synth.mix_bodies(lower, upper, rng, prob=0.0), lower)
