"""holosoma-retargeting climbing captures -> H36M-17.

The wheel ships (T, 53, 3) world joint positions in metres, Z up, for Mixamo-named joints whose
order is the list ``MOCAP_DEMO_JOINTS`` in ``holosoma_retargeting/config_types/data_type.py``;
that list is read from the downloaded wheel, not copied here. The capture rate is 120 Hz: the
package's ``examples/robot_retarget.py`` takes every 4th frame of these files and treats the
result as its default 30 fps input.

============== ===================================================================
H36M joint     Mixamo joint
============== ===================================================================
hips           RightUpLeg, LeftUpLeg
knees          RightLeg, LeftLeg
ankles         RightFoot, LeftFoot
shoulders      RightArm, LeftArm
elbows         RightForeArm, LeftForeArm
wrists         RightHand, LeftHand
neck_nose      Head (base of the skull, at about nose height)
head_top       Head + (Head - Neck): the skeleton has no head-top joint; the crown sits about
               one neck length above Head (a 1.78 m standing subject, holosoma's default
               height for this data, puts it at 1.76 m)
============== ===================================================================
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from .assemble import assemble_h36m

FPS = 120.0
JOINT_LIST_FILE = "holosoma_retargeting/config_types/data_type.py"
JOINT_LIST_NAME = "MOCAP_DEMO_JOINTS"
MIXAMO_JOINTS = {
    "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "neck_nose": "Head",
    "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
    "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand",
}


def joint_names(package_root: Path) -> list[str]:
    """The joint order of the climbing arrays, read from the wheel's source without importing it."""
    tree = ast.parse((package_root / JOINT_LIST_FILE).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == JOINT_LIST_NAME for target in node.targets):
            return list(ast.literal_eval(node.value))
    raise ValueError(f"{JOINT_LIST_FILE} defines no {JOINT_LIST_NAME}")


def load_joint_positions(path: Path, names: list[str]) -> np.ndarray:
    """A (T, J, 3) array of named joints in metres, Z up -> (T, 17, 3)."""
    positions = np.load(path)
    if positions.ndim != 3 or positions.shape[1:] != (len(names), 3):
        raise ValueError(f"{path}: expected (T, {len(names)}, 3) joint positions, "
                         f"got {positions.shape}")
    track = {name: positions[:, names.index(name)].astype(np.float64)
             for name in (*MIXAMO_JOINTS.values(), "Neck")}
    joints = {joint: track[name] for joint, name in MIXAMO_JOINTS.items()}
    joints["head_top"] = 2 * track["Head"] - track["Neck"]
    return assemble_h36m(joints)
