"""Draw one frame of a clip as a PNG, so a person can see at a glance that it is an upright
human with the sides the right way round: left limbs blue, right limbs red, torso grey."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from engines.skeleton import BONES, JOINT_INDEX, LEFT_JOINTS, RIGHT_JOINTS  # noqa: E402

from .clip import Clip  # noqa: E402

SIDE_COLOURS = {"left": "tab:blue", "right": "tab:red", "centre": "0.4"}


def _side(joint: int) -> str:
    return "left" if joint in LEFT_JOINTS else "right" if joint in RIGHT_JOINTS else "centre"


def most_upright_frame(positions: np.ndarray) -> int:
    """The frame whose head top is highest above the lower ankle: the easiest pose to read."""
    z = positions[..., 2]
    ankles = np.minimum(z[:, JOINT_INDEX["left_ankle"]], z[:, JOINT_INDEX["right_ankle"]])
    return int(np.argmax(z[:, JOINT_INDEX["head_top"]] - ankles))


def render_frame(clip: Clip, path: Path, frame: int | None = None) -> Path:
    """Save frame ``frame`` (default: the most upright one) of ``clip``, viewed from the front."""
    frame = most_upright_frame(clip.positions) if frame is None else frame
    pose = clip.positions[frame].astype(np.float64)
    left = pose[JOINT_INDEX["left_hip"]] - pose[JOINT_INDEX["right_hip"]]
    facing = np.cross(left, [0.0, 0.0, 1.0])  # forward = left x up
    azimuth = np.degrees(np.arctan2(facing[1], facing[0]))

    figure = plt.figure(figsize=(4, 5))
    axes = figure.add_subplot(projection="3d")
    for parent, child in BONES:
        segment = pose[[parent, child]]
        axes.plot(*segment.T, color=SIDE_COLOURS[_side(child)], linewidth=3)
    axes.scatter(*pose.T, c=[SIDE_COLOURS[_side(j)] for j in range(len(pose))], s=12)
    centre, half = pose.mean(0), max(np.ptp(pose, axis=0).max() / 2, 0.5)
    axes.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
             zlim=(centre[2] - half, centre[2] + half), xlabel="x", ylabel="y", zlabel="z (up)")
    axes.set_box_aspect((1, 1, 1))
    axes.view_init(elev=10, azim=azimuth)
    axes.set_title(f"{clip.name}\nframe {frame}/{len(clip.positions)} - left blue, right red",
                   fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
