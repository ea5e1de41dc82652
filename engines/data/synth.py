"""Training pairs from 3D mocap: random virtual cameras, augmentation and a 2D detector noise model.

A pair is what the live lifter sees and what it must answer: a window of 2D poses normalised with
:func:`engines.skeleton.normalize_screen` for the virtual image's size, and the matching 3D poses
in metres, root-relative, in camera coordinates (x right, y down, z forward). Everything is
vectorised over a batch of windows; :class:`PairBatches` wraps it for a torch ``DataLoader``.

Each clip first gets BlazePose's head leans (:func:`mediapipe_heads`, once per clip, in
``engines.train``). Per window, in world space (Z up): a random clip and start, a time warp of
0.5-2x, now and then the upper body of another clip on its legs, random bone lengths, a
left-right mirror, and a rotation about gravity. Then a virtual camera (distance, height, aim
point, roll, field of view, image size, portrait or landscape) projects the poses, and a
MediaPipe-like noise model perturbs the 2D points (per-joint offsets for differing joint
definitions, jitter, slow wander, dropped joints held at a stale value, low-confidence joints,
repeated frames, left/right swaps).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from engines.data.camera import look_at, project, world_to_camera
from engines.skeleton import FLIP_PERMUTATION, JOINT_INDEX, NUM_JOINTS, PARENTS, mirror, normalize_screen

FPS = 50.0  # the frame rate the lifter is trained at
# Bones whose length is scaled together, so left and right stay symmetric and the derived torso
# joints (pelvis, spine, thorax as midpoints) stay consistent. Indexed by child joint.
_BONE_GROUP = (0, 1, 2, 3, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 7, 8, 9)
_NUM_BONE_GROUPS = 10
LANDSCAPE_SIZES = ((1280, 720), (1920, 1080), (640, 480), (960, 540), (1768, 994))
_ARM_JOINTS = tuple(JOINT_INDEX[f"{side}_{j}"] for side in ("left", "right") for j in ("shoulder", "elbow", "wrist"))
_LEG_JOINTS = tuple(JOINT_INDEX[f"{side}_{j}"] for side in ("left", "right") for j in ("hip", "knee", "ankle"))


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the world-space augmentations."""

    time_warp: tuple[float, float] = (0.5, 2.0)  # playback speed, sampled log-uniformly
    body_scale: tuple[float, float] = (0.85, 1.15)  # overall size
    bone_scale_std: float = 0.06  # per bone-group relative length change
    mirror_prob: float = 0.5
    rotate: bool = True  # uniform rotation about gravity
    limb_rotation_deg: float = 0.0  # std (degrees) of a per-window turn of each arm and thigh segment; off: it did not help (docs/model-card.md)
    mix_bodies_prob: float = 0.3  # share of windows whose upper body comes from another clip and start (docs/model-card.md)
    mediapipe_definitions: bool = True  # BlazePose's joints: head leans per clip (engines.train), bone lengths per window


@dataclass(frozen=True)
class CameraRanges:
    """Ranges of the virtual cameras; defaults cover phones and webcams filming a whole body."""

    hfov_deg: tuple[float, float] = (45.0, 85.0)
    portrait_prob: float = 0.3
    fit: tuple[float, float] = (1.0, 2.5)  # distance as a multiple of "2 m just fills the height"
    min_clearance: float = 1.0  # metres between the camera and the nearest point of the motion
    height: tuple[float, float] = (0.3, 2.2)  # camera height above the floor
    aim_height: tuple[float, float] = (0.5, 1.3)
    aim_offset: float = 0.5  # subject off-centre by up to this fraction of the half field of view
    roll_deg: float = 4.0  # standard deviation


@dataclass(frozen=True)
class DetectorNoise:
    """2D noise in fractions of the person's height in pixels, fitted to BlazePose against the
    multi-view reference of Pose2Sim's Demo_MultiPerson (4 cameras, docs/model-card.md)."""

    joint_offset: float = 0.019  # per-clip, per-joint offset (fitted: 0.019)
    jitter: tuple[float, float] = (0.004, 0.012)  # per-frame white noise std range at rest ...
    jitter_per_speed: float = 0.7  # ... plus this times the joint's speed (heights per frame; fitted)
    wander: float = 0.02  # slowly varying error std (fitted: 0.022)
    drop_prob: float = 0.02  # per joint and window: a burst where the joint is held at a stale value
    low_conf_prob: float = 0.03  # per joint and window: a burst of large errors
    low_conf_std: float = 0.06
    burst_frames: tuple[int, int] = (3, 25)
    repeat_prob: float = 0.02  # per frame: the detector output repeats the previous frame
    # Per window: a burst in which BlazePose labels left as right (whole body, arms or legs), as
    # in side views and when a person faces the camera (fitted: whole-body swaps in 4 % of the
    # frames, legs 0.3 %, arms none; the sample clip's frontal walker has more).
    swap_body_prob: float = 0.3
    swap_arms_prob: float = 0.05
    swap_legs_prob: float = 0.05
    swap_frames: tuple[int, int] = (2, 20)


# BlazePose's landmarks are not mocap joint centres: its hips sit closer together, its "nose" is
# the nose, not the neck, and the sources' skeletons disagree on limbs too (shins of 0.97-1.22
# thighs). Lengths of these bones relative to the thigh in the Demo_MultiPerson reference
# (docs/real-video.md); each training window is rescaled to them, so the lifter's input and output
# follow BlazePose's definitions whatever the mocap source.
MEDIAPIPE_PROPORTIONS = {"hip_width": 0.477, "shoulder_width": 0.882, "torso": 1.301,
                         "thorax_to_nose": 0.586, "nose_to_head_top": 0.392,
                         "shin": 0.934, "upper_arm": 0.663, "forearm": 0.634}

# How far BlazePose's nose leans forward of the torso axis seen from the thorax, and its head top
# (above the ears) seen from the nose, in degrees, in the body's sagittal plane: medians over the
# Demo_MultiPerson reference (docs/real-video.md). The sources' skeletons put the head elsewhere
# (per source, median neck leans of 13-49 degrees and head leans of -38 to +15), and lengths alone
# do not move it; :func:`mediapipe_heads` turns each clip's neck and head by a constant to these.
MEDIAPIPE_HEAD_LEAN_DEG = {"neck": 57.1, "head": -11.3}
_NECK = (JOINT_INDEX["thorax"], JOINT_INDEX["neck_nose"])
_HEAD = (JOINT_INDEX["neck_nose"], JOINT_INDEX["head_top"])


def _sagittal_axes(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pose (..., 17, 3): unit vectors (..., 3) along the torso (pelvis to thorax) and forward
    (from it and the hips' left-to-right line)."""
    up = positions[..., JOINT_INDEX["thorax"], :] - positions[..., JOINT_INDEX["pelvis"], :]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    forward = np.cross(up, positions[..., JOINT_INDEX["right_hip"], :] - positions[..., JOINT_INDEX["left_hip"], :])
    return up, forward / np.linalg.norm(forward, axis=-1, keepdims=True)


def head_leans(positions: np.ndarray) -> np.ndarray:
    """(..., 2) degrees: how far forward of the torso axis the neck (thorax to nose) and the
    head (nose to head top) point, in each pose's sagittal plane."""
    up, forward = _sagittal_axes(positions)
    leans = []
    for parent, child in (_NECK, _HEAD):
        bone = positions[..., child, :] - positions[..., parent, :]
        leans.append(np.degrees(np.arctan2((bone * forward).sum(-1), (bone * up).sum(-1))))
    return np.stack(leans, -1)


def turn_heads(positions: np.ndarray, neck_deg: float, head_deg: float) -> np.ndarray:
    """Poses (..., 17, 3) with the nose turned about the thorax by ``neck_deg`` and the head top
    about the nose by ``head_deg``, forward positive, in each pose's sagittal plane; bone lengths
    and the sideways parts of both bones kept."""
    out = np.array(positions, dtype=np.float64, copy=True)
    up, forward = _sagittal_axes(out)
    for (parent, child), deg in ((_NECK, neck_deg), (_HEAD, head_deg)):
        bone = positions[..., child, :] - positions[..., parent, :]
        along, ahead = (bone * up).sum(-1, keepdims=True), (bone * forward).sum(-1, keepdims=True)
        cos, sin = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        turned = bone + (along * cos - ahead * sin - along) * up + (along * sin + ahead * cos - ahead) * forward
        out[..., child, :] = out[..., parent, :] + turned
    return out.astype(positions.dtype)


def mediapipe_heads(positions: np.ndarray) -> np.ndarray:
    """One clip (T, 17, 3) with its neck and head turned by constant angles so that their median
    leans are BlazePose's (:data:`MEDIAPIPE_HEAD_LEAN_DEG`); the head's motion within the clip is
    kept."""
    neck, head = np.nanmedian(head_leans(positions.astype(np.float64)), axis=0)
    return turn_heads(positions, MEDIAPIPE_HEAD_LEAN_DEG["neck"] - neck, MEDIAPIPE_HEAD_LEAN_DEG["head"] - head)


def with_mediapipe_heads(clips: Sequence) -> list:
    """The clips with :func:`mediapipe_heads` applied (per clip, before windows are cut, so that
    one window's head pose can differ from another's as in the source)."""
    return [replace(c, positions=mediapipe_heads(c.positions)) for c in clips]


@dataclass
class VirtualCameras:
    """A batch of pinhole cameras: camera-to-world rotations, centres, focal lengths, image sizes."""

    rotation: np.ndarray  # (n, 3, 3)
    position: np.ndarray  # (n, 3)
    focal: np.ndarray  # (n,)
    size: np.ndarray  # (n, 2) width, height in pixels


# --- world-space augmentation -------------------------------------------------------------------

def sample_windows(clips: Sequence, rng: np.random.Generator, n: int, num_frames: int,
                   warp: tuple[float, float] = (1.0, 1.0), clip_weights: np.ndarray | None = None,
                   fps: float = FPS) -> np.ndarray:
    """(n, T, 17, 3) windows at ``fps`` from random clips and starts, time-warped by a random
    factor in ``warp`` (log-uniform), by linear interpolation. Clips shorter than the warped
    window are slowed down to fit, and a clip shorter than the window at any speed is played
    at the slowest speed and padded with its last frame."""
    weights = np.array([len(c.positions) for c in clips], dtype=np.float64)
    if clip_weights is not None:
        weights = weights * clip_weights
    which = rng.choice(len(clips), size=n, p=weights / weights.sum())
    rate = np.exp(rng.uniform(np.log(warp[0]), np.log(warp[1]), size=n))
    out = np.empty((n, num_frames, NUM_JOINTS, 3), dtype=np.float32)
    steps = np.arange(num_frames)
    for i, c in enumerate(which):
        pos = clips[c].positions
        last = len(pos) - 1
        step = rate[i] * clips[c].fps / fps
        if num_frames > 1:
            step = max(min(step, last / (num_frames - 1)), warp[0] * clips[c].fps / fps)
        span = step * (num_frames - 1)
        start = rng.uniform(0, max(last - span, 0.0))
        t = np.minimum(start + step * steps, last)
        i0 = np.floor(t).astype(int)
        i1 = np.minimum(i0 + 1, last)
        frac = (t - i0)[:, None, None]
        out[i] = pos[i0] * (1 - frac) + pos[i1] * frac
    return out


def scale_bones(positions: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Rebuild poses (n, T, 17, 3) from the pelvis outwards with each bone scaled by ``factors``
    (n, 17), indexed by the bone's child joint (entry 0, the pelvis, is unused)."""
    out = positions.copy()
    for child, parent in enumerate(PARENTS):
        if parent >= 0:
            bone = positions[:, :, child] - positions[:, :, parent]
            out[:, :, child] = out[:, :, parent] + bone * factors[:, None, child, None]
    return out


def _rotation_matrices(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: unit axes (n, 3) and angles (n,) -> rotation matrices (n, 3, 3)."""
    k = np.zeros((len(axis), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - np.swapaxes(k, 1, 2)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * k @ k


def _descendants(joint: int) -> list[int]:
    out = [joint]
    for child, parent in enumerate(PARENTS):
        if parent in out:
            out.append(child)
    return out


# Joints about which a limb is turned, with the joints that turn along (PoseAug-style).
_LIMB_PIVOTS = tuple((JOINT_INDEX[f"{side}_{pivot}"], _descendants(JOINT_INDEX[f"{side}_{child}"]))
                     for side in ("left", "right")
                     for pivot, child in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee")))


def rotate_limbs(positions: np.ndarray, rng: np.random.Generator, std_deg: float) -> np.ndarray:
    """New poses from the same motion: each upper arm, forearm and thigh of a window (n, T, 17, 3)
    turned about its joint by one random rotation (angle ~ N(0, std_deg), at most 2 std), the
    same over the window, so the motion stays smooth and bone lengths stay put."""
    if std_deg <= 0:
        return positions
    out = positions.copy()
    n = len(positions)
    for pivot, moving in _LIMB_PIVOTS:
        axis = rng.normal(size=(n, 3))
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        angle = np.radians(np.clip(rng.normal(0, std_deg, n), -2 * std_deg, 2 * std_deg))
        rot = _rotation_matrices(axis, angle)  # (n, 3, 3)
        centre = out[:, :, pivot:pivot + 1]
        out[:, :, moving] = np.einsum("nij,ntkj->ntki", rot, out[:, :, moving] - centre) + centre
    return out


_UPPER_BODY = tuple(range(JOINT_INDEX["spine"], NUM_JOINTS))  # spine and everything above it


def _heading(windows: np.ndarray) -> np.ndarray:
    """(n, T) angle about gravity of each frame's hip line (right hip to left hip)."""
    hips = windows[:, :, JOINT_INDEX["left_hip"]] - windows[:, :, JOINT_INDEX["right_hip"]]
    return np.arctan2(hips[..., 1], hips[..., 0])


def mix_bodies(lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """New poses from the same motion: in a share ``prob`` of the windows (n, T, 17, 3), world Z
    up, the spine and everything above it come from ``upper``'s window, turned about gravity
    frame by frame so its hips' heading matches, and set on ``lower``'s pelvis."""
    out = lower.copy()
    mixed = rng.random(len(lower)) < prob
    if not mixed.any():
        return out
    legs, top = lower[mixed], upper[mixed]
    turn = _heading(legs) - _heading(top)  # (m, T)
    c, s = np.cos(turn)[..., None], np.sin(turn)[..., None]
    body = top[:, :, _UPPER_BODY] - top[:, :, :1]
    turned = np.stack([c * body[..., 0] - s * body[..., 1], s * body[..., 0] + c * body[..., 1], body[..., 2]], -1)
    out[np.ix_(mixed, np.arange(lower.shape[1]), _UPPER_BODY)] = legs[:, :, :1] + turned
    return out


def random_bone_factors(rng: np.random.Generator, n: int, aug: Augmentation) -> np.ndarray:
    """(n, 17) symmetric bone-length factors: an overall size times a per-bone-group change."""
    body = rng.uniform(*aug.body_scale, size=(n, 1))
    groups = np.clip(rng.normal(1.0, aug.bone_scale_std, size=(n, _NUM_BONE_GROUPS)), 0.8, 1.2)
    return body * groups[:, _BONE_GROUP]


def rotate_about_gravity(positions: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate poses (n, ..., 3) by ``angle`` (n,) radians about the world Z axis through the origin."""
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(c), np.ones_like(c)
    rot = np.stack([np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1),
                    np.stack([zero, zero, one], -1)], -2)  # (n, 3, 3)
    flat = positions.reshape(len(positions), -1, 3)
    return (flat @ np.swapaxes(rot, 1, 2)).reshape(positions.shape).astype(np.float32)


def center_on_floor(positions: np.ndarray) -> np.ndarray:
    """Move each window (n, T, 17, 3) so its mean pelvis is above the origin and its lowest
    joint touches z = 0: the camera is then placed relative to the subject and the floor."""
    offset = positions[:, :, 0, :].mean(1)
    offset[:, 2] = positions[..., 2].min(axis=(1, 2))
    return positions - offset[:, None, None, :]


def mediapipe_definitions(windows: np.ndarray) -> np.ndarray:
    """Windows (n, T, 17, 3) with hip and shoulder widths, torso, neck, head, shins and arms
    rescaled to :data:`MEDIAPIPE_PROPORTIONS` of each window's median thigh length."""
    bone = lambda child: np.median(np.linalg.norm(windows[:, :, child] - windows[:, :, PARENTS[child]], axis=-1), 1)
    j = JOINT_INDEX
    thigh = (bone(j["left_knee"]) + bone(j["right_knee"])) / 2
    torso = np.median(np.linalg.norm(windows[:, :, j["thorax"]] - windows[:, :, j["pelvis"]], axis=-1), 1)
    want = {name: MEDIAPIPE_PROPORTIONS[name] * thigh for name in MEDIAPIPE_PROPORTIONS}
    factors = np.ones((len(windows), NUM_JOINTS))
    with np.errstate(divide="ignore", invalid="ignore"):
        for side in ("left", "right"):
            factors[:, j[f"{side}_hip"]] = want["hip_width"] / 2 / bone(j[f"{side}_hip"])
            factors[:, j[f"{side}_shoulder"]] = want["shoulder_width"] / 2 / bone(j[f"{side}_shoulder"])
            for child, name in (("ankle", "shin"), ("elbow", "upper_arm"), ("wrist", "forearm")):
                factors[:, j[f"{side}_{child}"]] = want[name] / bone(j[f"{side}_{child}"])
        factors[:, j["spine"]] = factors[:, j["thorax"]] = want["torso"] / torso
        factors[:, j["neck_nose"]] = want["thorax_to_nose"] / bone(j["neck_nose"])
        factors[:, j["head_top"]] = want["nose_to_head_top"] / bone(j["head_top"])
    return scale_bones(windows, np.nan_to_num(factors, nan=1.0, posinf=1.0))


def augment(windows: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """BlazePose's joint definitions, bone lengths, limb rotations, mirroring and rotation about
    gravity, then centring on the floor."""
    n = len(windows)
    out = mediapipe_definitions(windows) if aug.mediapipe_definitions else windows
    out = scale_bones(out, random_bone_factors(rng, n, aug))
    out = rotate_limbs(out, rng, aug.limb_rotation_deg)
    flip = rng.random(n) < aug.mirror_prob
    out[flip] = mirror(out[flip])
    if aug.rotate:
        out = rotate_about_gravity(out, rng.uniform(0, 2 * np.pi, size=n))
    return center_on_floor(out)


# --- virtual cameras ----------------------------------------------------------------------------

def sample_cameras(rng: np.random.Generator, positions: np.ndarray,
                   ranges: CameraRanges = CameraRanges()) -> VirtualCameras:
    """One camera per window (n, T, 17, 3) (centred by :func:`center_on_floor`), looking along +y
    at the subject from a random distance and height, aimed slightly off the subject."""
    n = len(positions)
    size = np.array(LANDSCAPE_SIZES)[rng.integers(len(LANDSCAPE_SIZES), size=n)]
    portrait = rng.random(n) < ranges.portrait_prob
    size[portrait] = size[portrait][:, ::-1]
    half_hfov = np.radians(rng.uniform(*ranges.hfov_deg, size=n)) / 2
    focal = size[:, 0] / 2 / np.tan(half_hfov)
    fit = focal / (size[:, 1] / 2)  # distance at which 1 m above and below the aim fills the image
    reach = np.linalg.norm(positions[..., :2], axis=-1).max(axis=(1, 2))
    distance = np.maximum(fit * rng.uniform(*ranges.fit, size=n), reach + ranges.min_clearance)
    eye = np.stack([np.zeros(n), -distance, rng.uniform(*ranges.height, size=n)], -1)
    half_vfov = np.arctan(size[:, 1] / 2 / focal)
    aim_x = distance * np.tan(half_hfov) * ranges.aim_offset * rng.uniform(-1, 1, size=n)
    aim_z = rng.uniform(*ranges.aim_height, size=n) + (
        distance * np.tan(half_vfov) * ranges.aim_offset * 0.5 * rng.uniform(-1, 1, size=n))
    target = np.stack([aim_x, np.zeros(n), aim_z], -1)
    roll = np.radians(rng.normal(0, ranges.roll_deg, size=n))
    return VirtualCameras(look_at(eye, target, roll), eye, focal, size.astype(np.float64))


def project_to_image(positions: np.ndarray, cams: VirtualCameras) -> tuple[np.ndarray, np.ndarray]:
    """World windows (n, T, 17, 3) -> (pixels (n, T, 17, 2), camera-space points (n, T, 17, 3))."""
    n, t = positions.shape[:2]
    cam = world_to_camera(positions.reshape(n, -1, 3), cams.rotation, cams.position)
    focal = np.repeat(cams.focal[:, None], 2, axis=1)
    pixels = project(cam, focal, cams.size / 2)
    return pixels.reshape(n, t, NUM_JOINTS, 2), cam.reshape(n, t, NUM_JOINTS, 3)


# --- 2D detector noise --------------------------------------------------------------------------

def _bursts(rng: np.random.Generator, shape: tuple[int, int, int], prob: float,
            frames: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Random bursts per (window, joint): a mask (n, T, J) and each burst's start frame (n, 1, J)."""
    n, t, j = shape
    active = rng.random((n, 1, j)) < prob
    start = rng.integers(0, t, size=(n, 1, j))
    length = rng.integers(frames[0], frames[1] + 1, size=(n, 1, j))
    frame = np.arange(t)[None, :, None]
    return active & (frame >= start) & (frame < start + length), start


def swap_permutation(joints: Sequence[int]) -> np.ndarray:
    """Index permutation (17,) that swaps left and right among ``joints`` only."""
    perm = np.arange(NUM_JOINTS)
    perm[list(joints)] = np.asarray(FLIP_PERMUTATION)[list(joints)]
    return perm


_SWAPS = (("swap_body_prob", swap_permutation(range(NUM_JOINTS))),
          ("swap_arms_prob", swap_permutation(_ARM_JOINTS)),
          ("swap_legs_prob", swap_permutation(_LEG_JOINTS)))


def add_label_swaps(pixels: np.ndarray, rng: np.random.Generator, noise: DetectorNoise) -> np.ndarray:
    """Left/right label swaps in bursts of frames, of the whole body, the arms or the legs."""
    n, t = pixels.shape[:2]
    out = pixels.copy()
    for prob_name, perm in _SWAPS:
        burst, _ = _bursts(rng, (n, t, 1), getattr(noise, prob_name), noise.swap_frames)
        hit = burst[..., 0]
        out[hit] = out[hit][:, perm]
    return out


def add_detector_noise(pixels: np.ndarray, rng: np.random.Generator,
                       noise: DetectorNoise = DetectorNoise()) -> np.ndarray:
    """MediaPipe-like errors on 2D windows (n, T, 17, 2), scaled by each person's pixel height."""
    n, t, j, _ = pixels.shape
    height = np.median(pixels[..., 1].max(-1) - pixels[..., 1].min(-1), axis=1)
    scale = np.maximum(height, 1.0)[:, None, None, None]
    out = pixels + rng.normal(0, noise.joint_offset, (n, 1, j, 2)) * scale
    jitter = rng.uniform(*noise.jitter, size=(n, 1, 1, 1))
    if t > 1:
        speed = np.linalg.norm(np.gradient(pixels, axis=1), axis=-1, keepdims=True) / scale
        jitter = jitter + noise.jitter_per_speed * speed
    out = out + rng.normal(0, 1, (n, t, j, 2)) * jitter * scale
    if t > 1:  # slow wander: white noise smoothed over ~10 frames, rescaled to unit std
        white = rng.normal(0, 1, (n, t + 9, j, 2)).cumsum(1)
        slow = (white[:, 9:] - white[:, :-9]) / 3.0
        out = out + slow * noise.wander * scale
    low, _ = _bursts(rng, (n, t, j), noise.low_conf_prob, noise.burst_frames)
    out = out + low[..., None] * rng.normal(0, noise.low_conf_std, (n, t, j, 2)) * scale
    dropped, start = _bursts(rng, (n, t, j), noise.drop_prob, noise.burst_frames)
    held = np.where(dropped, np.maximum(start - 1, 0), np.arange(t)[None, :, None])
    out = np.take_along_axis(out, held[..., None], axis=1)
    fresh = np.where(rng.random((n, t)) < noise.repeat_prob, 0, np.arange(t)[None, :])
    fresh[:, 0] = 0
    repeated = np.maximum.accumulate(fresh, axis=1)
    out = np.take_along_axis(out, repeated[:, :, None, None], axis=1)
    return add_label_swaps(out, rng, noise).astype(np.float32)


# --- pairs --------------------------------------------------------------------------------------

def sample_lookahead(rng: np.random.Generator, n: int, num_frames: int) -> np.ndarray:
    """(n,) lookaheads: half causal (0, the live default), then 5, the centre, or any in between."""
    centre = (num_frames - 1) // 2
    kind = rng.random(n)
    out = rng.integers(0, centre + 1, size=n)
    out[kind < 0.7] = centre
    out[kind < 0.55] = min(5, centre)
    out[kind < 0.4] = 0
    return out


def to_pairs(world: np.ndarray, cams: VirtualCameras, rng: np.random.Generator | None,
             noise: DetectorNoise | None) -> tuple[np.ndarray, np.ndarray]:
    """World windows -> (normalised 2D (n, T, 17, 2), root-relative camera 3D (n, T, 17, 3))."""
    pixels, cam = project_to_image(world, cams)
    if noise is not None:
        pixels = add_detector_noise(pixels, rng, noise)
    size = cams.size[:, None, None, :]
    pose2d = normalize_screen(pixels, size[..., 0], size[..., 1])
    return pose2d.astype(np.float32), (cam - cam[:, :, :1]).astype(np.float32)


def make_pairs(clips: Sequence, rng: np.random.Generator, n: int, num_frames: int,
               clip_weights: np.ndarray | None = None, aug: Augmentation = Augmentation(),
               cameras: CameraRanges = CameraRanges(),
               noise: DetectorNoise | None = DetectorNoise()) -> dict[str, np.ndarray]:
    """A batch of ``n`` training pairs: ``pose2d`` (n, T, 17, 2), ``target3d`` (n, T, 17, 3) and
    ``target_index`` (n,), the frame the lifter is asked for (``T - 1 - lookahead``)."""
    world = sample_windows(clips, rng, n, num_frames, aug.time_warp, clip_weights)
    if aug.mix_bodies_prob > 0:
        uppers = sample_windows(clips, rng, n, num_frames, aug.time_warp, clip_weights)
        world = mix_bodies(world, uppers, rng, aug.mix_bodies_prob)
    world = augment(world, rng, aug)
    pose2d, target3d = to_pairs(world, sample_cameras(rng, world, cameras), rng, noise)
    target_index = num_frames - 1 - sample_lookahead(rng, n, num_frames)
    return {"pose2d": pose2d, "target3d": target3d, "target_index": target_index.astype(np.int64)}


class PairBatches(torch.utils.data.Dataset):
    """``length`` batches per epoch; batch ``i`` of epoch ``e`` is generated from seed (seed, e, i),
    so epochs differ, runs repeat, and a ``DistributedSampler`` can split batches across ranks.
    Use with ``DataLoader(..., batch_size=None)``."""

    def __init__(self, clips: Sequence, length: int, batch_size: int, num_frames: int, seed: int = 0,
                 clip_weights: np.ndarray | None = None, **kwargs):
        if not clips:
            raise ValueError("no training clips")
        self.clips, self.length, self.batch_size, self.num_frames = clips, length, batch_size, num_frames
        self.seed, self.clip_weights, self.kwargs, self.epoch = seed, clip_weights, kwargs, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        batch = make_pairs(self.clips, rng, self.batch_size, self.num_frames, self.clip_weights, **self.kwargs)
        return {k: torch.from_numpy(v) for k, v in batch.items()}
