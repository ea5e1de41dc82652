"""2D stage: everyone's BlazePose landmarks per frame, from one of a registry of backends.

A backend is one file in this package and one line in :data:`BACKENDS` (``pose2d.backend`` in
config.yaml): a class with ``estimate(image_bgr, t_ms) -> list[Pose2D]`` (everyone it sees, not
yet numbered), ``close()``, and the settings it takes listed in ``OPTIONS``. Today:

* ``solutions`` (default): ``mediapipe.solutions.pose``, bundled with mediapipe 0.10.21, works
  offline, sees one person;
* ``tasks``: the Tasks ``PoseLandmarker``, which can see several people (``num_poses``); its
  ``.task`` bundle is built offline from the same bundled models (:mod:`stream.pose_bundle`)
  unless ``task_file`` names another.

Who is who is not the backend's business: :func:`track_people` numbers the people of each frame
with a :class:`stream.tracking.PeopleTracker`, so ids persist whichever backend found them.
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
from stream.tracking import Detection, PeopleTracker

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
    person_id: int = 0            # set by track_people: stable while the tracker follows the person

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

    def detection(self) -> Detection:
        """What the tracker needs: the box of all 33 landmarks, the mean visibility, the joints."""
        box = np.concatenate([self.landmarks_px.min(axis=0), self.landmarks_px.max(axis=0)])
        return Detection(box, float(self.visibility.mean()), self.h36m_pixels())

    def is_finite(self) -> bool:
        return bool(np.isfinite(self.landmarks_px).all() and np.isfinite(self.visibility).all()
                    and np.isfinite(self.world).all())


def track_people(tracker: PeopleTracker, people: list[Pose2D], t_s: float) -> list[Pose2D]:
    """``people`` of one frame numbered by ``tracker``; those it does not follow (beyond
    ``max_people``, too unsure, a second sighting) are left out, and counted by the tracker."""
    ids = tracker.update([p.detection() for p in people], t_s)
    return [replace(p, person_id=i) for p, i in zip(people, ids) if i >= 0]


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
