"""2D stage: people's BlazePose landmarks per frame, from one of a registry of backends.

A backend is one file in this package and one line in :data:`BACKENDS` (``pose2d.backend`` in
config.yaml): a class with ``estimate(image_bgr, t_ms) -> Pose2D | None``, ``close()``, and the
settings it takes listed in ``OPTIONS``. Today:

* ``solutions`` (default): ``mediapipe.solutions.pose``, bundled with mediapipe 0.10.21, works
  offline, tracks one person;
* ``tasks``: the Tasks ``PoseLandmarker``, which can see several people (``num_poses``); its
  ``.task`` bundle is built offline from the same bundled models (:mod:`stream.pose_bundle`)
  unless ``task_file`` names another.

Either way a :class:`PersonTracker` keeps following the same person (bounding-box overlap with
the last pose seen) and gives a new ``person_id`` when it has to switch, so the ring buffer never
mixes two people in a window.
"""
from __future__ import annotations

import importlib
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from engines.skeleton import mediapipe_scores_to_h36m, mediapipe_to_h36m, normalize_screen

# name -> (module, class)
BACKENDS = {"solutions": ("stream.pose2d.solutions", "SolutionsPose"),
            "tasks": ("stream.pose2d.tasks", "TasksPose")}


@dataclass
class Pose2D:
    """One person's BlazePose landmarks in one image."""

    landmarks_px: np.ndarray      # (33, 2) float32 pixels
    visibility: np.ndarray        # (33,) float32 in [0, 1]
    world: np.ndarray             # (33, 3) float32 metres, MediaPipe's hip-centred world landmarks
    image_size: tuple[int, int]   # (width, height)
    person_id: int = 0

    def relabelled(self, index: np.ndarray) -> Pose2D:
        """This pose with its landmarks reordered by ``index`` (33,), e.g. left and right swapped."""
        return replace(self, landmarks_px=self.landmarks_px[index], visibility=self.visibility[index],
                       world=self.world[index])

    def h36m_pixels(self) -> np.ndarray:
        """(17, 2) H36M joints in pixels."""
        return mediapipe_to_h36m(self.landmarks_px)

    def h36m_scores(self) -> np.ndarray:
        """(17,) per-joint confidence."""
        return mediapipe_scores_to_h36m(self.visibility)

    def h36m_normalized(self) -> np.ndarray:
        """(17, 2) H36M joints in the lifter's normalised screen coordinates."""
        return normalize_screen(self.h36m_pixels(), *self.image_size)


def _box(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


class PersonTracker:
    """Picks which detected person to follow and numbers people.

    Follows the candidate whose box overlaps most with the last box seen; when none overlaps by
    at least ``min_iou`` it switches to the largest candidate and gives it a new id.
    """

    def __init__(self, min_iou: float) -> None:
        self.min_iou = min_iou
        self.last_box: np.ndarray | None = None
        self.person_id = -1

    def choose(self, candidates: list[np.ndarray]) -> tuple[int, int]:
        """Index of the candidate to follow among (33, 2) landmark arrays, and its person id."""
        boxes = [_box(c) for c in candidates]
        ious = [box_iou(b, self.last_box) for b in boxes] if self.last_box is not None else []
        if ious and max(ious) >= self.min_iou:
            index = int(np.argmax(ious))
        else:
            index = int(np.argmax([np.prod(b[2:] - b[:2]) for b in boxes]))
            self.person_id += 1
        self.last_box = boxes[index]
        return index, self.person_id


def _to_arrays(landmarks, world, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    norm = np.array([(p.x, p.y, p.visibility) for p in landmarks], dtype=np.float32)
    metres = np.array([(p.x, p.y, p.z) for p in world], dtype=np.float32)
    return norm[:, :2] * np.array([width, height], dtype=np.float32), norm[:, 2], metres


# MediaPipe's C++ start-up notices, harmless and printed on every run: TFLite's delegate line,
# absl's note that it was not initialised, and a TFLite feature the bundled models do not use.
NATIVE_STARTUP_NOISE = ("Created TensorFlow Lite XNNPACK delegate", "All log messages before absl::InitializeLog()",
                        "inference_feedback_manager.cc")


@contextmanager
def _native_startup_noise_dropped() -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 (past Python's logging) meanwhile, and
    pass on all of it but the known start-up notices."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = sink.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not any(n in line for n in NATIVE_STARTUP_NOISE)))
            sys.stderr.flush()


def create_pose2d(backend: str = "solutions", **options):
    """The 2D estimator named by ``backend`` (:data:`BACKENDS`) with the ``options`` it takes (the
    others are left out), run once on a blank image so that its one-off start-up (and MediaPipe's
    start-up notices, dropped) is over before frames come."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown pose2d.backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module, name = BACKENDS[backend]
    cls = getattr(importlib.import_module(module), name)
    with _native_startup_noise_dropped():
        estimator = cls(**{k: v for k, v in options.items() if k in cls.OPTIONS})
        estimator.estimate(np.zeros((480, 640, 3), np.uint8), 0)  # nobody there: no tracking state
    return estimator
