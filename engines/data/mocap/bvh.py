"""BVH clips -> H36M-17, parsed and posed with bvhio.

A mapping names, for each of the 14 measured joints (see :mod:`.assemble`), the BVH joint whose
world position it takes; ``"<joint>/end"`` means that joint's End Site (the head top in both
tables below). Torso joints are derived, not mapped.

============== ================== ==================
H36M joint     CMU (cgspeed BVH)  Boxing_Toes (assimp)
============== ================== ==================
right_hip      RightUpLeg         RightHip
right_knee     RightLeg           RightKnee
right_ankle    RightFoot          RightAnkle
left_hip       LeftUpLeg          LeftHip
left_knee      LeftLeg            LeftKnee
left_ankle     LeftFoot           LeftAnkle
neck_nose      Head               Head
head_top       Head/end           Head/end
left_shoulder  LeftArm            LeftShoulder
left_elbow     LeftForeArm        LeftElbow
left_wrist     LeftHand           LeftWrist
right_shoulder RightArm           RightShoulder
right_elbow    RightForeArm       RightElbow
right_wrist    RightHand          RightWrist
============== ================== ==================

In both skeletons ``Head`` sits at about chin/nose height and its End Site at the crown.

LaFAN1-format files (Ubisoft's skeleton, CMU's joint names) end ``Head`` in an End Site of
length 0, which says nowhere where the crown is (bvhio turns such a tip into one unit along the
joint's own +Y, which points anywhere). For such a bare End Site, ``bare_end`` gives a length,
laid on from the joint along its parent-to-joint line (for the head: on along the neck); user
clips get :data:`BARE_END_M`. Only the direction matters for training, since
:func:`engines.data.synth.mediapipe_definitions` sets the head's length to BlazePose's.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import bvhio
import numpy as np

from .assemble import assemble_h36m, check_mapping_keys
from .axes import to_z_up

CMU_JOINTS = {
    "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "neck_nose": "Head", "head_top": "Head/end",
    "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
    "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand",
}
BOXING_JOINTS = {
    "right_hip": "RightHip", "right_knee": "RightKnee", "right_ankle": "RightAnkle",
    "left_hip": "LeftHip", "left_knee": "LeftKnee", "left_ankle": "LeftAnkle",
    "neck_nose": "Head", "head_top": "Head/end",
    "left_shoulder": "LeftShoulder", "left_elbow": "LeftElbow", "left_wrist": "LeftWrist",
    "right_shoulder": "RightShoulder", "right_elbow": "RightElbow", "right_wrist": "RightWrist",
}
# The cgspeed CMU conversion stores lengths in units of (1 / 0.45) inch: 0.0254 / 0.45 m.
CMU_SCALE = 0.0254 / 0.45
BARE_END_M = 0.18  # a bare head End Site: about the crown's height above the top of the neck
END_SITE = "/end"


def load_bvh(path: str | Path, mapping: Mapping[str, str] = CMU_JOINTS, scale: float = CMU_SCALE,
             up_axis: str = "y", bare_end: float | None = None) -> tuple[np.ndarray, float]:
    """Read a BVH file -> ((T, 17, 3) metres Z-up, frames per second).

    ``scale`` converts file units to metres; ``up_axis`` is the file's up axis (BVH: "y");
    ``bare_end`` is the length (metres) of a mapped End Site whose offset is 0 (see the module
    doc): without it such an End Site is an error.
    """
    check_mapping_keys(mapping, "BVH")
    container = bvhio.readAsBvh(str(path))
    if container.FrameCount < 1 or not container.FrameTime > 0:
        raise ValueError(f"{path}: BVH has {container.FrameCount} frames and frame time "
                         f"{container.FrameTime}")
    # bvhio re-bases each joint's rest pose so that its local +Y points at its tip (the End Site
    # for a leaf), which is what lets us place an End Site from the posed joint below.
    bvh_joints = {joint.Name: joint for joint, _, _ in container.Root.layout()}
    root = bvhio.convertBvhToHierarchy(container.Root).loadRestPose(recursive=True)
    posed = {joint.Name: joint for joint, _, _ in root.layout()}

    targets = []  # (joint, end-site length or None) per mapped H36M joint
    for h36m_name, bvh_name in mapping.items():
        name, is_end = (bvh_name[:-len(END_SITE)], True) if bvh_name.endswith(END_SITE) else (bvh_name, False)
        if name not in posed:
            raise ValueError(f"{path}: no BVH joint {name!r} for {h36m_name}; "
                             f"joints are {sorted(posed)}")
        if is_end and bvh_joints[name].Children:
            raise ValueError(f"{path}: {name!r} has children, so it has no End Site for {h36m_name}")
        up_length = on_length = None  # an End Site along the joint's +Y, or on along its bone
        if is_end and np.any(tuple(bvh_joints[name].EndSite)):
            up_length = bvh_joints[name].getLength()
        elif is_end:  # bvhio would make this tip (0, 1, 0)
            if bare_end is None or posed[name].Parent is None:
                raise ValueError(f"{path}: the End Site of {name!r} ({h36m_name}) has length 0 "
                                 "and no bare_end length was given")
            on_length = bare_end / scale
        targets.append((posed[name], up_length, on_length))

    world = np.empty((container.FrameCount, len(targets), 3))
    for frame in range(container.FrameCount):
        root.loadPose(frame, recursive=True)
        for k, (joint, up_length, on_length) in enumerate(targets):
            position = joint.PositionWorld
            if up_length is not None:
                position = position + joint.UpWorld * up_length
            if on_length is not None:
                along = position - joint.Parent.PositionWorld
                position = position + along * (on_length / float(np.linalg.norm(tuple(along))))
            world[frame, k] = tuple(position)
    world = to_z_up(world * scale, up_axis)
    # Frame times are written with ~5 significant digits (".0083333"), so round the rate.
    fps = round(1.0 / container.FrameTime, 2)
    return assemble_h36m({name: world[:, k] for k, name in enumerate(mapping)}), fps
