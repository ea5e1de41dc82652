"""C3D marker clips -> H36M-17 joint centres, read with ezc3d.

A mapping gives, for each of the 14 measured joints (see :mod:`.assemble`), a rule and the
markers it uses. The default table is the 53-marker Vicon full-body set of the DART samples
(subject prefixes such as ``Nick01:`` are ignored):

============== ============================== ==============================================
H36M joint     rule, markers                  joint centre
============== ============================== ==============================================
right/left_hip hip_right/left RFWT LFWT       Harrington et al. (2007, J Biomech 40:595)
               RBWT LBWT                      regression, front/back waist markers standing in
                                              for ASIS/PSIS: from mid-ASIS, 0.24 PD + 9.9 mm
                                              back, 0.30 PW + 10.9 mm down, 0.33 PW + 7.3 mm
                                              lateral (PW: ASIS width, PD: ASIS-PSIS depth,
                                              clip medians)
knees          mean xKNE xKNI                 midpoint of lateral and medial knee markers
ankles         ankle xANK xKNE xKNI           lateral malleolus marker moved 40 mm medially
                                              (half a malleolar width plus the marker radius),
                                              along the knee's lateral->medial direction
neck_nose      nose LFHD RFHD LBHD RBHD ARIEL front-head midpoint moved 70 mm down the head
                                              axis (head-marker centre -> ARIEL): temple
                                              markers sit about that far above the nose
head_top       mean ARIEL                     crown marker
shoulders      mean xFSH xBSH                 midpoint of front and back shoulder markers
elbows         mean xELB xIEL                 midpoint of lateral and medial elbow markers
wrists         mean xOWR xIWR                 midpoint of outer and inner wrist markers
============== ============================== ==============================================

:data:`PLUG_IN_GAIT` reads trials processed by Vicon's Plug-in Gait model, whose C3D holds the
model's segment points (origin ``O`` and the axis points ``A``, ``L``, ``P`` one segment length
away) next to the markers. The limb joints take the model's own joint centres, which it computed
with the subject's measured leg length, knee, ankle, elbow and wrist widths and shoulder offsets
(stored under ``PROCESSING``); marker rules could not match them at the elbow (no medial marker)
or the shoulder (the acromion marker sits some 5 cm above the joint). Checked on the pyc3dsample
trials: PELO is the midpoint of LFEP and RFEP, LHUP is LCLO and LHNP is LRAO (0.0 mm), LFEP lies
31 mm from the Harrington estimate from LASI/RASI/LPSI/RPSI, and LFEO and LTIO lie 10-13 and
6-11 mm (medians) from the midpoints of the lateral and medial knee (xKNE, xMEC) and ankle (xANK,
xMMA) markers. The head has no model point that H36M uses, so it comes from the head band:

============== ============================== ==============================================
H36M joint     rule, markers                  joint centre
============== ============================== ==============================================
hips           xFEP                           femur proximal point: the model's hip centre
knees          xFEO                           femur origin: the model's knee centre
ankles         xTIO                           tibia origin: the model's ankle centre
shoulders      xCLO                           clavicle origin: the model's shoulder centre
elbows         xHUO                           humerus origin: the model's elbow centre
wrists         xRAO                           radius origin: the model's wrist centre
neck_nose      band_nose LFHD RFHD LBHD RBHD  front-head midpoint 70 mm down the band normal
head_top       band_crown LFHD RFHD LBHD RBHD band centre 95 mm up the band normal: the
                                              crown marker sits 94-95 mm above the band in
                                              both DART subjects
============== ============================== ==============================================

A user mapping may use the same rules, or give a marker name or a tuple of names (their mean).
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path

import ezc3d
import numpy as np

from .assemble import assemble_h36m, check_mapping_keys
from .axes import to_z_up
from .gapfill import fill_gaps

_WAIST = ("RFWT", "LFWT", "RBWT", "LBWT")
VICON_53 = {
    "right_hip": ("hip_right", *_WAIST), "left_hip": ("hip_left", *_WAIST),
    "right_knee": ("mean", "RKNE", "RKNI"), "left_knee": ("mean", "LKNE", "LKNI"),
    "right_ankle": ("ankle", "RANK", "RKNE", "RKNI"), "left_ankle": ("ankle", "LANK", "LKNE", "LKNI"),
    "neck_nose": ("nose", "LFHD", "RFHD", "LBHD", "RBHD", "ARIEL"), "head_top": ("mean", "ARIEL"),
    "left_shoulder": ("mean", "LFSH", "LBSH"), "right_shoulder": ("mean", "RFSH", "RBSH"),
    "left_elbow": ("mean", "LELB", "LIEL"), "right_elbow": ("mean", "RELB", "RIEL"),
    "left_wrist": ("mean", "LOWR", "LIWR"), "right_wrist": ("mean", "ROWR", "RIWR"),
}
_HEAD_BAND = ("LFHD", "RFHD", "LBHD", "RBHD")
PLUG_IN_GAIT = {
    "right_hip": "RFEP", "left_hip": "LFEP", "right_knee": "RFEO", "left_knee": "LFEO",
    "right_ankle": "RTIO", "left_ankle": "LTIO",
    "neck_nose": ("band_nose", *_HEAD_BAND), "head_top": ("band_crown", *_HEAD_BAND),
    "left_shoulder": "LCLO", "right_shoulder": "RCLO", "left_elbow": "LHUO", "right_elbow": "RHUO",
    "left_wrist": "LRAO", "right_wrist": "RRAO",
}
ANKLE_MEDIAL_OFFSET = 0.040  # m
NOSE_BELOW_FRONT_HEAD = 0.070  # m
CROWN_ABOVE_HEAD_BAND = 0.095  # m
MAX_INTERP_GAP_S = 0.25
_UNITS = {"mm": 0.001, "cm": 0.01, "m": 1.0}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _mean(*markers: np.ndarray) -> np.ndarray:
    return np.mean(markers, axis=0)


def _harrington(r_asis, l_asis, r_psis, l_psis, side: int) -> np.ndarray:
    """Hip joint centre on ``side`` (+1 right, -1 left), Harrington et al. 2007, in metres."""
    mid_asis, mid_psis = (r_asis + l_asis) / 2, (r_psis + l_psis) / 2
    right = _unit(r_asis - l_asis)
    anterior = mid_asis - mid_psis
    anterior = _unit(anterior - np.sum(anterior * right, -1, keepdims=True) * right)
    superior = np.cross(right, anterior)
    width = np.median(np.linalg.norm(r_asis - l_asis, axis=-1))
    depth = np.median(np.linalg.norm(mid_asis - mid_psis, axis=-1))
    return (mid_asis - (0.24 * depth + 0.0099) * anterior - (0.30 * width + 0.0109) * superior
            + side * (0.33 * width + 0.0073) * right)


def _ankle(ankle, knee_lateral, knee_medial) -> np.ndarray:
    shank = _unit((knee_lateral + knee_medial) / 2 - ankle)
    medial = knee_medial - knee_lateral
    medial = _unit(medial - np.sum(medial * shank, -1, keepdims=True) * shank)
    return ankle + ANKLE_MEDIAL_OFFSET * medial


def _nose(lfhd, rfhd, lbhd, rbhd, crown) -> np.ndarray:
    head_up = _unit(crown - (lfhd + rfhd + lbhd + rbhd) / 4)
    return (lfhd + rfhd) / 2 - NOSE_BELOW_FRONT_HEAD * head_up


def _band_up(lfhd, rfhd, lbhd, rbhd) -> np.ndarray:
    """The head's up direction: the normal of the head-band plane, forward x left."""
    return _unit(np.cross(lfhd + rfhd - lbhd - rbhd, lfhd + lbhd - rfhd - rbhd))


def _band_nose(lfhd, rfhd, lbhd, rbhd) -> np.ndarray:
    return (lfhd + rfhd) / 2 - NOSE_BELOW_FRONT_HEAD * _band_up(lfhd, rfhd, lbhd, rbhd)


def _band_crown(lfhd, rfhd, lbhd, rbhd) -> np.ndarray:
    centre = (lfhd + rfhd + lbhd + rbhd) / 4
    return centre + CROWN_ABOVE_HEAD_BAND * _band_up(lfhd, rfhd, lbhd, rbhd)


RULES = {"mean": _mean, "hip_right": partial(_harrington, side=1),
         "hip_left": partial(_harrington, side=-1), "ankle": _ankle, "nose": _nose,
         "band_nose": _band_nose, "band_crown": _band_crown}


def _normalise(mapping: Mapping) -> dict[str, tuple[str, ...]]:
    """Accept ``"MARKER"``, ``("M1", "M2")`` (mean) or ``("rule", "M1", ...)`` per joint."""
    check_mapping_keys(mapping, "C3D")
    rules = {}
    for joint, spec in mapping.items():
        spec = (spec,) if isinstance(spec, str) else tuple(spec)
        rules[joint] = spec if spec[0] in RULES else ("mean", *spec)
        if len(rules[joint]) < 2:
            raise ValueError(f"C3D mapping for {joint} names no markers: {spec}")
    return rules


def load_c3d(path: str | Path, mapping: Mapping = VICON_53, up_axis: str = "z"
             ) -> tuple[np.ndarray, float, dict]:
    """Read a C3D file -> ((T, 17, 3) metres Z-up, frames per second, gap-filling report)."""
    rules = _normalise(mapping)
    c3d = ezc3d.c3d(str(path))
    point = c3d["parameters"]["POINT"]
    units = point["UNITS"]["value"][0].strip().lower()
    if units not in _UNITS:
        raise ValueError(f"{path}: unsupported C3D point units {units!r}; expected {sorted(_UNITS)}")
    fps = float(point["RATE"]["value"][0])
    labels = [label.split(":")[-1].strip() for label in point["LABELS"]["value"]]
    needed = sorted({marker for rule in rules.values() for marker in rule[1:]})
    absent = [marker for marker in needed if marker not in labels]
    if absent:
        raise ValueError(f"{path}: markers {absent} not in the C3D; it has {labels}")

    markers = np.transpose(c3d["data"]["points"][:3], (2, 1, 0)) * _UNITS[units]  # (T, M, 3)
    markers, report = fill_gaps(markers, [labels.index(m) for m in needed],
                                max_interp_gap=int(MAX_INTERP_GAP_S * fps))
    markers = to_z_up(markers, up_axis)
    track = {marker: markers[:, labels.index(marker)] for marker in needed}
    joints = {joint: RULES[rule[0]](*(track[m] for m in rule[1:])) for joint, rule in rules.items()}
    return assemble_h36m(joints), fps, report.as_dict()
