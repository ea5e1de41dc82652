"""The ``solutions`` 2D backend: ``mediapipe.solutions.pose`` (BlazePose GHUM 3D, one person,
tracking between frames), bundled with mediapipe 0.10.21 and working offline."""
from __future__ import annotations

import cv2
import numpy as np

from stream.pose2d import Pose2D, _to_arrays


class SolutionsPose:
    OPTIONS = ("model_complexity", "min_detection_confidence", "min_tracking_confidence", "static_image_mode")

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, static_image_mode: bool = False) -> None:
        import mediapipe as mp

        try:
            self.pose = mp.solutions.pose.Pose(
                static_image_mode=static_image_mode, model_complexity=model_complexity, smooth_landmarks=True,
                enable_segmentation=False, min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence)
        except OSError as err:  # urllib's URLError included
            raise RuntimeError(f"pose2d.model_complexity={model_complexity}: mediapipe could not download "
                               f"its model ({err}); 1 is bundled and works offline") from None

    def estimate(self, image_bgr: np.ndarray, t_ms: int) -> list[Pose2D]:
        height, width = image_bgr.shape[:2]
        result = self.pose.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        if result.pose_landmarks is None:
            return []
        px, vis, world = _to_arrays(result.pose_landmarks.landmark,
                                    result.pose_world_landmarks.landmark, width, height)
        return [Pose2D(px, vis, world, (width, height))]

    def close(self) -> None:
        self.pose.close()
