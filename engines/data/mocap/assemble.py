"""Build H36M-17 poses from the 14 joints every source provides.

Every source maps its own joints or markers to the 14 *measured* joints below. The three torso
joints are then derived exactly as :func:`engines.skeleton.mediapipe_to_h36m` derives them from
MediaPipe landmarks, so the 2D poses projected from training data and the 2D poses seen live
share one definition of pelvis, spine and thorax:

* pelvis = (left_hip + right_hip) / 2
* thorax = (left_shoulder + right_shoulder) / 2
* spine  = (pelvis + thorax) / 2
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engines.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS

DERIVED_JOINTS = ("pelvis", "spine", "thorax")
MEASURED_JOINTS = tuple(name for name in JOINT_NAMES if name not in DERIVED_JOINTS)


def check_mapping_keys(mapping: Mapping, what: str) -> None:
    """Raise if a joint mapping does not name exactly the 14 measured joints."""
    missing = sorted(set(MEASURED_JOINTS) - set(mapping))
    extra = sorted(set(mapping) - set(MEASURED_JOINTS))
    if missing or extra:
        raise ValueError(f"{what} mapping must name exactly the joints {list(MEASURED_JOINTS)}; "
                         f"missing {missing}, unexpected {extra}")


def assemble_h36m(joints: Mapping[str, np.ndarray]) -> np.ndarray:
    """Named (T, 3) trajectories of the 14 measured joints -> (T, 17, 3) float32 poses."""
    check_mapping_keys(joints, "joint")
    first = np.asarray(joints[MEASURED_JOINTS[0]])
    out = np.empty((len(first), NUM_JOINTS, 3), dtype=np.float64)
    for name in MEASURED_JOINTS:
        out[:, JOINT_INDEX[name]] = joints[name]
    pelvis = (out[:, JOINT_INDEX["left_hip"]] + out[:, JOINT_INDEX["right_hip"]]) / 2
    thorax = (out[:, JOINT_INDEX["left_shoulder"]] + out[:, JOINT_INDEX["right_shoulder"]]) / 2
    out[:, JOINT_INDEX["pelvis"]] = pelvis
    out[:, JOINT_INDEX["thorax"]] = thorax
    out[:, JOINT_INDEX["spine"]] = (pelvis + thorax) / 2
    return out.astype(np.float32)
