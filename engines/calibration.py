"""Calibrated cameras for multi-view work: reading Qualisys and Pose2Sim files, projecting, undistorting.

A :class:`Camera` follows OpenCV: ``x_cam = R @ x_world + t`` (metres), pinhole ``K``, distortion
``(k1, k2, p1, p2)``, pixel frame of an image of ``size = (width, height)``.

* Qualisys ``.qca.txt``: each camera's ``transform`` is its position (mm) and a rotation
  whose rows are Qualisys' camera axes (y up, z backwards) in the world, the intrinsics are in 1/64 pixel of the
  sensor, offset by the ``fov_video`` window. Converted as Pose2Sim's ``calib_qca_fun`` does,
  distortion included (its coefficients are divided by 64 too; the reprojection error of a
  triangulation tells whether that holds for a given file).
* Pose2Sim ``Calib.toml``: ``[cam_xx]`` tables with ``size``, ``matrix``, ``distortions``,
  Rodrigues ``rotation`` and ``translation`` (world to camera).

A video need not be filmed in the calibrated pixel frame: :meth:`Camera.for_image` rescales a
camera to another image size with the same aspect ratio and refuses a different aspect ratio
(letterboxing or cropping), which no calibration describes.
"""
from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

# Qualisys camera axes (x right, y up, z backwards) to OpenCV's (x right, y down, z forwards).
_QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Camera:
    name: str
    size: tuple[float, float]  # (width, height) in pixels of the calibrated image
    K: np.ndarray  # (3, 3)
    dist: np.ndarray  # (4,) k1, k2, p1, p2
    R: np.ndarray  # (3, 3) world to camera
    t: np.ndarray  # (3,) metres

    @property
    def centre(self) -> np.ndarray:
        """The camera's position in the world."""
        return -self.R.T @ self.t

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) in this camera's frame."""
        return points @ self.R.T + self.t

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> distorted pixels (..., 2)."""
        flat = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        rvec, _ = cv2.Rodrigues(self.R)
        pixels, _ = cv2.projectPoints(flat, rvec, self.t.astype(np.float64), self.K, self.dist)
        return pixels.reshape(points.shape[:-1] + (2,))

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted pixels (..., 2) -> undistorted normalised image coordinates (..., 2)."""
        flat = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.undistortPoints(flat, self.K, self.dist).reshape(pixels.shape)

    def for_image(self, width: int, height: int) -> Camera:
        """This camera for images of ``width`` x ``height``: the same, or rescaled when only the
        resolution differs. A different aspect ratio is refused."""
        w, h = self.size
        if (width, height) == (w, h):
            return self
        if abs(width / height - w / h) > 1e-3:
            raise ValueError(f"camera {self.name}: video is {width}x{height} but the calibration is "
                             f"{w:g}x{h:g}, another aspect ratio (cropped or letterboxed?)")
        scale = np.diag([width / w, height / h, 1.0])
        return replace(self, size=(float(width), float(height)), K=scale @ self.K)


def read_qca(path: str | Path) -> list[Camera]:
    """Cameras of a Qualisys ``.qca.txt`` file, in the file's order."""
    root = ElementTree.parse(path).getroot()
    cameras = []
    for tag in root.findall("cameras/camera"):
        fov = {k: float(v) for k, v in tag.find("fov_video").attrib.items()}
        intr = {k: float(v) for k, v in tag.find("intrinsic").attrib.items()}
        tr = {k: float(v) for k, v in tag.find("transform").attrib.items()}
        K = np.array([[intr["focalLengthU"] / 64, 0, intr["centerPointU"] / 64 - fov["left"]],
                      [0, intr["focalLengthV"] / 64, intr["centerPointV"] / 64 - fov["top"]],
                      [0, 0, 1]])
        dist = np.array([intr["radialDistortion1"], intr["radialDistortion2"],
                         intr["tangentalDistortion1"], intr["tangentalDistortion2"]]) / 64
        rotation = np.array([[tr[f"r{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)])
        R = _QUALISYS_TO_OPENCV @ rotation
        position = np.array([tr["x"], tr["y"], tr["z"]]) / 1000
        size = (fov["right"] - fov["left"] + 1, fov["bottom"] - fov["top"] + 1)
        cameras.append(Camera(tag.get("serial"), size, K, dist, R, -R @ position))
    if not cameras:
        raise ValueError(f"{path}: no cameras in this Qualisys calibration")
    return cameras


def read_pose2sim_toml(path: str | Path) -> list[Camera]:
    """Cameras of a Pose2Sim ``Calib.toml`` file, in the file's order."""
    with open(path, "rb") as f:
        tables = tomllib.load(f)
    cameras = []
    for key, cam in tables.items():
        if key == "metadata":
            continue
        try:
            R, _ = cv2.Rodrigues(np.asarray(cam["rotation"], dtype=np.float64))
            cameras.append(Camera(str(cam.get("name", key)), tuple(map(float, cam["size"])),
                                  np.asarray(cam["matrix"], dtype=np.float64),
                                  np.asarray(cam["distortions"], dtype=np.float64), R,
                                  np.asarray(cam["translation"], dtype=np.float64)))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: camera [{key}] is incomplete or malformed ({e})") from None
    if not cameras:
        raise ValueError(f"{path}: no camera tables in this Pose2Sim calibration")
    return cameras


def load_calibration(path: str | Path) -> list[Camera]:
    """Cameras of a ``.qca.txt`` (Qualisys) or ``.toml`` (Pose2Sim) calibration file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file not found: {path}")
    try:
        if path.name.endswith(".qca.txt"):
            return read_qca(path)
        if path.suffix == ".toml":
            return read_pose2sim_toml(path)
    except (ElementTree.ParseError, tomllib.TOMLDecodeError, AttributeError) as e:
        raise ValueError(f"{path}: unreadable calibration ({e})") from None
    raise ValueError(f"{path}: unknown calibration format; expected .qca.txt (Qualisys) or .toml (Pose2Sim)")
