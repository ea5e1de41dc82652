"""Sanity checks every converted clip must pass before it is cached.

* ``bone_cv``: the largest coefficient of variation (std / mean over frames) of the 9 bones that
  are rigid in a real body - thighs, shins, upper arms, forearms and neck_nose -> head_top.
  Torso bones are left out: pelvis, spine and thorax are midpoints of hips and shoulders, so
  their distances change with every shrug and bend. Limit 1 % for sources posed by forward
  kinematics on a rigid skeleton (float32 and resampling noise only), 8 % for joint centres
  from skin markers, whose soft-tissue artefact is typically 2-5 %.
* ``left_right``: knees bend forwards, so the knee's offset from the hip-ankle line gives the
  facing direction; for a correctly labelled, right-handed body ``forward x left`` points up
  the torso. The value is the flexion-weighted mean sign over frames, in [-1, 1]; a mirrored
  or left/right-swapped clip scores near -1. Limit 0.5.
* ``upright``: fraction of frames with head_top above pelvis above the lower ankle along Z.
  Limit 0.4: get-up, roll and cartwheel clips spend up to half their frames lying or inverted
  (DeepMimic getup_faceup scores 0.46), while the same clips turned upside down score at most
  0.30 and upright clips about 1.
* ``height_m``: standing height from the skeleton - leg (hip-knee-ankle) + pelvis-thorax +
  thorax-neck_nose + neck_nose-head_top, medians over frames, plus 7 cm from ankle to floor.
  Must lie in [1.3, 2.1] m, which catches wrong units.
* ``finite``: no NaN or infinite coordinates.
"""
from __future__ import annotations

import numpy as np

from engines.skeleton import JOINT_INDEX

J = JOINT_INDEX
RIGID_BONES = (("right_hip", "right_knee"), ("right_knee", "right_ankle"),
               ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
               ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
               ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
               ("neck_nose", "head_top"))
MAX_BONE_CV = {"skeleton": 0.01, "markers": 0.08}
MIN_LEFT_RIGHT = 0.5
MIN_UPRIGHT = 0.4
HEIGHT_RANGE_M = (1.3, 2.1)
ANKLE_HEIGHT_M = 0.07


class ClipCheckError(ValueError):
    """A converted clip failed a sanity check."""


def _length(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def bone_cv(positions: np.ndarray) -> float:
    lengths = np.stack([_length(positions[:, J[a]], positions[:, J[b]]) for a, b in RIGID_BONES], 1)
    return float(np.max(lengths.std(0) / lengths.mean(0)))


def left_right_score(positions: np.ndarray) -> float:
    p = positions.astype(np.float64)
    forward = np.zeros((len(p), 3))
    for side in ("left", "right"):
        hip, knee, ankle = (p[:, J[f"{side}_{name}"]] for name in ("hip", "knee", "ankle"))
        leg = ankle - hip
        along = np.sum((knee - hip) * leg, -1, keepdims=True) / np.sum(leg * leg, -1, keepdims=True)
        forward += knee - (hip + along * leg)
    left = p[:, J["left_hip"]] - p[:, J["right_hip"]] + p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]]
    up = p[:, J["thorax"]] - p[:, J["pelvis"]]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    score = np.sum(np.cross(forward, left) * up, -1)
    total = np.sum(np.abs(score))
    return float(np.sum(score) / total) if total > 0 else 0.0


def upright_fraction(positions: np.ndarray) -> float:
    z = positions[..., 2]
    ankles = np.minimum(z[:, J["left_ankle"]], z[:, J["right_ankle"]])
    return float(np.mean((z[:, J["head_top"]] > z[:, J["pelvis"]]) & (z[:, J["pelvis"]] > ankles)))


def standing_height(positions: np.ndarray) -> float:
    p = positions
    legs = [np.median(_length(p[:, J[f"{s}_hip"]], p[:, J[f"{s}_knee"]])
                      + _length(p[:, J[f"{s}_knee"]], p[:, J[f"{s}_ankle"]])) for s in ("left", "right")]
    chain = ("pelvis", "thorax", "neck_nose", "head_top")
    trunk = sum(np.median(_length(p[:, J[a]], p[:, J[b]])) for a, b in zip(chain, chain[1:]))
    return float(np.mean(legs) + trunk + ANKLE_HEIGHT_M)


def run_checks(positions: np.ndarray, kind: str) -> dict[str, dict]:
    """All checks on (T, 17, 3) metres Z-up; ``kind`` is "skeleton" or "markers"."""
    if kind not in MAX_BONE_CV:
        raise ValueError(f"kind must be one of {sorted(MAX_BONE_CV)}, got {kind!r}")
    finite = bool(np.isfinite(positions).all())
    if not finite:
        return {"finite": {"value": False, "ok": False}}
    cv, lr, up, height = (bone_cv(positions), left_right_score(positions),
                          upright_fraction(positions), standing_height(positions))
    low, high = HEIGHT_RANGE_M
    return {
        "finite": {"value": True, "ok": True},
        "bone_cv": {"value": round(cv, 5), "max": MAX_BONE_CV[kind], "ok": cv <= MAX_BONE_CV[kind]},
        "left_right": {"value": round(lr, 3), "min": MIN_LEFT_RIGHT, "ok": lr >= MIN_LEFT_RIGHT},
        "upright": {"value": round(up, 3), "min": MIN_UPRIGHT, "ok": up >= MIN_UPRIGHT},
        "height_m": {"value": round(height, 3), "range": [low, high], "ok": low <= height <= high},
    }


def failed(results: dict[str, dict]) -> list[str]:
    """Names of the checks that did not pass, each with its measured value."""
    return [f"{name}={result['value']}" for name, result in results.items() if not result["ok"]]


def require_ok(results: dict[str, dict], name: str) -> None:
    bad = failed(results)
    if bad:
        raise ClipCheckError(f"clip {name} failed checks: {', '.join(bad)}")
