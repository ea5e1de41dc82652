"""One frame's data and timestamps as it moves through the pipeline.

``t_s`` is the time motion is measured in (MediaPipe's video mode, tracking, smoothing): for a
file or folder its media time (frame index / fps), since an offline run reads faster than it
plays; for a camera the capture time.

Up to the lifter a record is a frame and holds everyone in it (``people``); the lifter hands on
one record per person and frame (``pose2d``, ``pose3d``, ...).

Each stage stamps the wall-clock time (``time.time_ns``) at which it finished with the frame,
in pipeline order, so a stage's duration is the difference between its stamp and the previous
one and the durations add up to glass-to-publish. The ``wait_*`` stages are time spent in a queue.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only for annotations: consumers importing the wire format need no OpenCV
    from stream.pose2d import Pose2D


@dataclass
class FrameRecord:
    seq: int
    source_id: str
    t_capture_ns: int
    image_size: tuple[int, int]                         # (width, height)
    stamps: dict[str, int] = field(default_factory=dict)
    image: np.ndarray | None = None                     # released after the 2D stage
    people: list[Pose2D] = field(default_factory=list)  # everyone the 2D stage tracks in the frame
    pose2d: Pose2D | None = None                        # after the lifter: the person this record is of
    pose3d: np.ndarray | None = None                    # (17, 3) metres, root-relative
    root: np.ndarray | None = None                      # (3,) metres, camera coordinates
    valid: bool = False
    confident: bool = False                             # valid and the key joints well seen
    epoch: int = 0                                      # the source's epoch: windows never span two
    t_s: float = 0.0                                    # when the frame shows, for motion (see above)

    def for_person(self, pose2d: Pose2D) -> FrameRecord:
        """This frame's record for one of its people (its own stamps from now on)."""
        return replace(self, pose2d=pose2d, stamps=dict(self.stamps))

    def stamp(self, stage: str) -> None:
        """Mark the end of ``stage`` now."""
        self.stamps[stage] = time.time_ns()

    def stages_ms(self) -> dict[str, float]:
        """Duration of each stage in milliseconds, in pipeline order."""
        names = list(self.stamps)
        return {b: (self.stamps[b] - self.stamps[a]) / 1e6 for a, b in zip(names, names[1:])}

    def glass_to_publish_ms(self) -> float:
        return (self.stamps["publish"] - self.t_capture_ns) / 1e6
