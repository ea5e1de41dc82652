"""The Human3.6M-17 skeleton, screen normalisation, and the MediaPipe-33 -> H36M-17 mapping.

These are the project's only definitions of joint order and normalisation: the live pipeline
(`stream/`) and training (`engines/data/`) both import them, so what the lifter sees live is
exactly what it was trained on.

Coordinate conventions
----------------------
* 2D input to the lifter: pixels normalised as in VideoPose3D,
  ``u = x / w * 2 - 1`` and ``v = y / w * 2 - h / w`` (both axes divided by the *width*, so the
  aspect ratio is kept and x spans [-1, 1]).
* 3D output: metres, root-relative (pelvis at the origin), in camera coordinates:
  x right, y down, z forward (OpenCV).
* World-space mocap (training data): metres, Z up.
"""
from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head_top",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT_JOINTS: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS: tuple[int, ...] = (1, 2, 3, 14, 15, 16)
# Index permutation that swaps left and right joints (used for mirroring).
FLIP_PERMUTATION: tuple[int, ...] = tuple(
    {**dict(zip(LEFT_JOINTS, RIGHT_JOINTS)), **dict(zip(RIGHT_JOINTS, LEFT_JOINTS))}.get(i, i)
    for i in range(NUM_JOINTS)
)
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)


def mirror(points: np.ndarray) -> np.ndarray:
    """Left-right mirror image of H36M-17 points (..., 17, D): negate x, swap left and right.
    The same for world poses, camera-frame poses and normalised screen coordinates (x = 0 is the
    image centre)."""
    out = np.asarray(points)[..., FLIP_PERMUTATION, :].copy()
    out[..., 0] *= -1
    return out


def normalize_screen(xy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Pixels -> normalised screen coordinates: ``x/w*2-1``, ``y/w*2-h/w``."""
    xy = np.asarray(xy, dtype=np.float32)
    return np.stack([xy[..., 0] / width * 2 - 1, xy[..., 1] / width * 2 - height / width], axis=-1)


def bone_lengths(pose3d: np.ndarray) -> np.ndarray:
    """Lengths of the 16 bones, shape (..., 16)."""
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return np.linalg.norm(pose3d[..., children, :] - pose3d[..., parents, :], axis=-1)


# --- MediaPipe BlazePose (33 landmarks) -> Human3.6M-17 --------------------------------------
MP = {name: i for i, name in enumerate((
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
))}
NUM_MEDIAPIPE_LANDMARKS = len(MP)


def mediapipe_swap(parts: str = "body") -> np.ndarray:
    """Index permutation (33,) that swaps MediaPipe's left and right landmarks of the whole
    ``"body"`` (face included), the ``"arms"`` (shoulders to fingers) or the ``"legs"``
    (hips to toes): the label swaps BlazePose makes."""
    first, last = {"body": (0, 32), "arms": (11, 22), "legs": (23, 32)}[parts]
    perm = np.arange(NUM_MEDIAPIPE_LANDMARKS)
    for name, i in MP.items():
        if name.startswith("left_") and first <= i <= last:
            j = MP["right_" + name[5:]]
            perm[i], perm[j] = j, i
    if parts == "body":
        perm[MP["mouth_left"]], perm[MP["mouth_right"]] = MP["mouth_right"], MP["mouth_left"]
    return perm

# H36M joints that are a single MediaPipe landmark.
_DIRECT = {
    "right_hip": "right_hip", "right_knee": "right_knee", "right_ankle": "right_ankle",
    "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
    "neck_nose": "nose",
    "left_shoulder": "left_shoulder", "left_elbow": "left_elbow", "left_wrist": "left_wrist",
    "right_shoulder": "right_shoulder", "right_elbow": "right_elbow", "right_wrist": "right_wrist",
}
HEAD_TOP_FACE_SCALE = 1.7  # head top sits ~1.7 eye-to-mouth lengths above the ears


def mediapipe_to_h36m(landmarks: np.ndarray) -> np.ndarray:
    """Map MediaPipe-33 landmarks to Human3.6M-17, for 2D, 3D or (x, y, visibility) arrays.

    ``landmarks`` has shape (..., 33, D). The last channel of a D=3 array is treated as a
    coordinate, so pass visibilities through :func:`mediapipe_scores_to_h36m` instead. Formulas:

    * pelvis     = (left_hip + right_hip) / 2
    * thorax     = (left_shoulder + right_shoulder) / 2
    * spine      = (pelvis + thorax) / 2
    * neck_nose  = nose
    * head_top   = ear_mid + 1.7 * (eye_mid - mouth_mid), where ear_mid, eye_mid and mouth_mid
      are the midpoints of the two ears, the two eyes and the two mouth corners
    * the 13 limb joints (hips, knees, ankles, shoulders, elbows, wrists) are copied.
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.shape[-2] != NUM_MEDIAPIPE_LANDMARKS:
        raise ValueError(f"expected 33 MediaPipe landmarks on axis -2, got shape {lm.shape}")
    out = np.empty(lm.shape[:-2] + (NUM_JOINTS, lm.shape[-1]), dtype=np.float32)
    for h36m_name, mp_name in _DIRECT.items():
        out[..., JOINT_INDEX[h36m_name], :] = lm[..., MP[mp_name], :]

    def mid(a: str, b: str) -> np.ndarray:
        return (lm[..., MP[a], :] + lm[..., MP[b], :]) / 2

    pelvis, thorax = mid("left_hip", "right_hip"), mid("left_shoulder", "right_shoulder")
    out[..., JOINT_INDEX["pelvis"], :] = pelvis
    out[..., JOINT_INDEX["thorax"], :] = thorax
    out[..., JOINT_INDEX["spine"], :] = (pelvis + thorax) / 2
    face_up = mid("left_eye", "right_eye") - mid("mouth_left", "mouth_right")
    out[..., JOINT_INDEX["head_top"], :] = mid("left_ear", "right_ear") + HEAD_TOP_FACE_SCALE * face_up
    return out


def mediapipe_scores_to_h36m(visibility: np.ndarray) -> np.ndarray:
    """Per-joint confidence for the H36M-17 joints from MediaPipe's 33 visibilities.

    A derived joint is only as confident as the least confident landmark it is built from.
    """
    vis = np.asarray(visibility, dtype=np.float32)
    out = np.empty(vis.shape[:-1] + (NUM_JOINTS,), dtype=np.float32)
    for h36m_name, mp_name in _DIRECT.items():
        out[..., JOINT_INDEX[h36m_name]] = vis[..., MP[mp_name]]

    def least(*names: str) -> np.ndarray:
        return np.min(np.stack([vis[..., MP[n]] for n in names], axis=-1), axis=-1)

    hips = least("left_hip", "right_hip")
    shoulders = least("left_shoulder", "right_shoulder")
    out[..., JOINT_INDEX["pelvis"]] = hips
    out[..., JOINT_INDEX["thorax"]] = shoulders
    out[..., JOINT_INDEX["spine"]] = np.minimum(hips, shoulders)
    out[..., JOINT_INDEX["head_top"]] = least(
        "left_ear", "right_ear", "left_eye", "right_eye", "mouth_left", "mouth_right")
    return out
