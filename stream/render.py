"""Draw H36M-17 skeletons with OpenCV: a 3D view standing on a floor, and a 2D overlay on an image.

OpenCV rather than matplotlib because the viewer and the annotated-video writer draw every frame:
an orthographic 3D panel here takes about 1 ms, a matplotlib 3D figure with its artists reused
70-120 ms (360x360 px, measured on the busy 2-core dev box).

3D poses arrive in camera coordinates (x right, y down, z forward, root-relative). The view turns
them so that gravity points down the screen (-y is up), puts the lower ankle on the floor, and
looks from ``azimuth`` degrees around the vertical axis (0 = from the camera) and ``elevation``
degrees above the floor. Left limbs are blue, right limbs red, the torso grey.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from engines.skeleton import BONES, JOINT_INDEX, LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS

LEFT_BGR = (230, 120, 20)
RIGHT_BGR = (40, 40, 220)
CENTRE_BGR = (150, 150, 150)
BACKGROUND_BGR = (30, 30, 30)
FLOOR_BGR = (75, 75, 75)
TEXT_BGR = (235, 235, 235)
ANKLES = (JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"])
PERSON_SPACING_M = 0.9  # how far apart several people are drawn in a 3D panel


def joint_colour(joint: int) -> tuple[int, int, int]:
    """Colour of a joint and of the bone ending at it."""
    return LEFT_BGR if joint in LEFT_JOINTS else RIGHT_BGR if joint in RIGHT_JOINTS else CENTRE_BGR


def standing(pose3d: np.ndarray) -> np.ndarray:
    """Camera coordinates -> a floor frame: x right, y up, z toward the camera, lower ankle at y = 0,
    pelvis above the origin. A proper rotation (180 degrees about x), so left stays left."""
    pose = np.asarray(pose3d, dtype=np.float64) * (1.0, -1.0, -1.0)
    pose = pose - (pose[0, 0], pose[list(ANKLES), 1].min(), pose[0, 2])
    return pose


@dataclass(frozen=True)
class View3D:
    """An orthographic camera looking at a person standing on a floor."""

    size: tuple[int, int] = (360, 360)       # (width, height) of the panel in pixels
    azimuth: float = 35.0                    # degrees around the vertical; 0 looks from the camera
    elevation: float = 15.0                  # degrees above the floor
    height_m: float = 2.6                    # metres of world that fit the panel's height
    floor_at: float = 0.8                    # where the floor's centre sits, as a fraction of the height
    floor_half_m: float = 1.0                # the floor grid spans +-this in x and z
    floor_step_m: float = 0.5

    def rotation(self) -> np.ndarray:
        """World (floor frame) -> view: x right on screen, y up on screen, z toward the viewer."""
        a, e = np.radians(self.azimuth), np.radians(self.elevation)
        yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        pitch = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
        return pitch @ yaw

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) floor-frame points -> ((..., 2) pixel coordinates, (...) depth toward the viewer)."""
        view = np.asarray(points, dtype=np.float64) @ self.rotation().T
        width, height = self.size
        scale = height / self.height_m
        pixels = np.stack([width / 2 + scale * view[..., 0], height * self.floor_at - scale * view[..., 1]], -1)
        return pixels, view[..., 2]

    def blank(self) -> np.ndarray:
        """An empty panel with the floor grid (a fresh copy to draw on)."""
        return _floor(self).copy()


@functools.lru_cache(maxsize=16)
def _floor(view: View3D) -> np.ndarray:
    """The floor grid of ``view``, drawn once per view: it is the same every frame."""
    width, height = view.size
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BACKGROUND_BGR
    ticks = np.arange(-view.floor_half_m, view.floor_half_m + 1e-9, view.floor_step_m)
    ends = np.full_like(ticks, view.floor_half_m)
    lines = np.concatenate([
        np.stack([np.stack([ticks, 0 * ticks, -ends], -1), np.stack([ticks, 0 * ticks, ends], -1)], 1),
        np.stack([np.stack([-ends, 0 * ticks, ticks], -1), np.stack([ends, 0 * ticks, ticks], -1)], 1),
    ])
    pixels, _ = view.project(lines)
    cv2.polylines(canvas, list(np.round(pixels).astype(np.int32)), False, FLOOR_BGR, 1, cv2.LINE_AA)
    canvas.flags.writeable = False
    return canvas


def draw_skeleton_3d(canvas: np.ndarray, pose3d: np.ndarray, view: View3D, dim: bool = False,
                     shift_m: float = 0.0) -> np.ndarray:
    """Draw a (17, 3) camera-coordinate pose onto ``canvas`` (from :meth:`View3D.blank`), far bones
    first so near ones cover them. ``dim`` greys it out (a held, not freshly measured, pose);
    ``shift_m`` stands it that far to the right of the centre (several people side by side)."""
    pose = np.asarray(pose3d)
    if pose.shape != (NUM_JOINTS, 3):
        raise ValueError(f"pose3d must have shape ({NUM_JOINTS}, 3), got {pose.shape}")
    if not np.isfinite(pose).all():
        return canvas
    pixels, depth = view.project(standing(pose) + (shift_m, 0.0, 0.0))
    points = np.round(pixels).astype(np.int32)
    thickness = max(2, round(view.size[1] / 120))
    for parent, child in sorted(BONES, key=lambda bone: depth[list(bone)].mean()):
        colour = CENTRE_BGR if dim else joint_colour(child)
        cv2.line(canvas, tuple(points[parent]), tuple(points[child]), colour, thickness, cv2.LINE_AA)
    for joint in np.argsort(depth):
        cv2.circle(canvas, tuple(points[joint]), thickness, CENTRE_BGR if dim else joint_colour(joint), -1, cv2.LINE_AA)
    return canvas


def draw_people_3d(canvas: np.ndarray, poses: list[np.ndarray], view: View3D, dim: list[bool]) -> np.ndarray:
    """Draw several (17, 3) poses side by side, centred, ``PERSON_SPACING_M`` apart, in order."""
    for k, (pose3d, dimmed) in enumerate(zip(poses, dim)):
        draw_skeleton_3d(canvas, pose3d, view, dimmed, shift_m=PERSON_SPACING_M * (k - (len(poses) - 1) / 2))
    return canvas


def render_3d(pose3d: np.ndarray | None, view: View3D = View3D(), dim: bool = False) -> np.ndarray:
    """A new panel showing ``pose3d`` (or just the floor when None)."""
    canvas = view.blank()
    return canvas if pose3d is None else draw_skeleton_3d(canvas, pose3d, view, dim)


def draw_skeleton_2d(image: np.ndarray, pose2d: np.ndarray, score: np.ndarray | None = None,
                     min_score: float = 0.3) -> np.ndarray:
    """Draw a (17, 2) pixel pose onto ``image`` in place; joints scoring below ``min_score`` (and
    the bones touching them) are left out, as are non-finite ones."""
    pose = np.asarray(pose2d, dtype=np.float64)
    if pose.shape != (NUM_JOINTS, 2):
        raise ValueError(f"pose2d must have shape ({NUM_JOINTS}, 2), got {pose.shape}")
    seen = np.isfinite(pose).all(axis=1)
    if score is not None:
        seen &= np.asarray(score) >= min_score
    points = np.round(np.where(seen[:, None], pose, 0)).astype(np.int32)
    thickness = max(2, round(image.shape[1] / 320))
    for parent, child in BONES:
        if seen[parent] and seen[child]:
            cv2.line(image, tuple(points[parent]), tuple(points[child]), joint_colour(child), thickness, cv2.LINE_AA)
    for joint in np.flatnonzero(seen):
        cv2.circle(image, tuple(points[joint]), thickness + 1, joint_colour(joint), -1, cv2.LINE_AA)
    return image


def put_lines(canvas: np.ndarray, lines: list[str], origin: tuple[int, int] = (8, 18), scale: float = 0.45) -> np.ndarray:
    """Write a few lines of text, top-left, readable on any background (dark outline)."""
    x, y = origin
    step = round(22 * scale / 0.5)
    for k, line in enumerate(lines):
        at = (x, y + k * step)
        cv2.putText(canvas, line, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, line, at, cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_BGR, 1, cv2.LINE_AA)
    return canvas
