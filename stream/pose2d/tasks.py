"""The ``tasks`` 2D backend: the Tasks ``PoseLandmarker`` in video mode, which can see several
people. Its ``.task`` bundle is :func:`stream.pose_bundle.pose_landmarker_bundle` (built offline
from the models mediapipe ships) unless ``task_file`` names another."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stream.pose2d import Pose2D, _to_arrays


class TasksPose:
    OPTIONS = ("task_file", "num_poses", "min_detection_confidence", "min_tracking_confidence")

    def __init__(self, task_file: Path | None = None, num_poses: int = 2, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        from stream.pose_bundle import pose_landmarker_bundle

        task_file = Path(task_file) if task_file is not None else pose_landmarker_bundle()
        if not task_file.is_file():
            raise FileNotFoundError(f"pose2d.task_file not found: {task_file}")

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(task_file)),
            running_mode=vision.RunningMode.VIDEO, num_poses=num_poses,
            min_pose_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)
        try:
            self.landmarker = vision.PoseLandmarker.create_from_options(options)
        except RuntimeError as err:
            raise ValueError(f"pose2d.task_file {task_file}: not a usable PoseLandmarker bundle "
                             f"({' '.join(str(err).split())[:200]})") from None
        self.last_t_ms = -1

    def estimate(self, image_bgr: np.ndarray, t_ms: int) -> list[Pose2D]:
        import mediapipe as mp

        height, width = image_bgr.shape[:2]
        t_ms = max(int(t_ms), self.last_t_ms + 1)  # video mode needs strictly increasing times
        self.last_t_ms = t_ms
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        result = self.landmarker.detect_for_video(image, t_ms)
        return [Pose2D(*_to_arrays(lm, world, width, height), (width, height))
                for lm, world in zip(result.pose_landmarks, result.pose_world_landmarks)]

    def close(self) -> None:
        self.landmarker.close()
