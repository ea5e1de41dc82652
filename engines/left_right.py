"""Left/right repair: keep a person's left and right labels continuous from frame to frame.

MediaPipe now and then swaps left and right for a frame or a few, most of all for a person facing
the camera: on the sample clip, in 26 of the 83 frames (6-89) in which the man faces it, in runs of
up to 8 frames (looked at). The swapped labels put the left limbs where the right ones were a
frame before, and the lifter then turns the person around. The repair runs on the 2D pose, before
the ring buffer: for each limb group, arms (with the face) and legs, it keeps the labels as
MediaPipe gave them or swaps them, whichever puts the group closer to where it was in the last
repaired frame (the sum of its joints' distances). Arms and legs are decided apart, because
MediaPipe swaps them apart too: on those 83 frames, deciding them apart got every arm labelling
right (80 of 80 clear ones) and 71 of 72 leg labellings; deciding them together 49 and 45, fewer
than MediaPipe alone (54 and 48). ``tests/test_left_right.py`` holds frames labelled by looking.

The first frame of a track sets its labels, so a track that starts on one of MediaPipe's swapped
frames would stay swapped: when a group's repaired labels have disagreed with MediaPipe's in more
than ``give_up`` (2/3) of the last ``window`` (30) frames, MediaPipe's are taken again. Its own
swaps come in shorter runs; a wrong start is undone within a second or two (40 frames on the
sample clip: the window has to fill first).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from engines.skeleton import MP, NUM_MEDIAPIPE_LANDMARKS


def _pairs(*parts: str) -> list[tuple[int, int]]:
    """(left, right) landmark indices of the named body parts."""
    return [(MP[f"left_{part}"], MP[f"right_{part}"]) for part in parts]


ARMS = _pairs("shoulder", "elbow", "wrist", "pinky", "index", "thumb", "eye_inner", "eye", "eye_outer", "ear") + [
    (MP["mouth_left"], MP["mouth_right"])]
LEGS = _pairs("hip", "knee", "ankle", "heel", "foot_index")
# The joints whose distance to the last frame decides a group (the hands and feet are too noisy).
DECIDING = {"arms": _pairs("shoulder", "elbow", "wrist"), "legs": _pairs("hip", "knee", "ankle")}
GROUPS = {"arms": ARMS, "legs": LEGS}


def swap_index(pairs: list[tuple[int, int]]) -> np.ndarray:
    """Landmark index (33,) that exchanges the left and right landmarks of ``pairs``; index a
    pose's landmarks, visibilities and world landmarks with it alike."""
    index = np.arange(NUM_MEDIAPIPE_LANDMARKS)
    for left, right in pairs:
        index[[left, right]] = right, left
    return index


def _distance(a: np.ndarray, b: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    joints = [j for pair in pairs for j in pair]
    return float(np.linalg.norm(a[joints] - b[joints], axis=1).sum())


class LeftRightRepair:
    """Repairs one track's poses in frame order: called with each frame's landmark pixels (33, 2),
    it returns the landmark index that repairs the frame (:func:`swap_index`; the identity when
    nothing is swapped). :meth:`reset` when the track ends (a new person, a gap). ``repaired``
    counts the frames in which a group's labels were swapped."""

    def __init__(self, window: int = 30, give_up: float = 2 / 3) -> None:
        self.window, self.give_up = window, give_up
        self.repaired = 0
        self.reset()

    def reset(self) -> None:
        self.last: np.ndarray | None = None  # (33, 2) repaired pixels of the last frame
        self.disagreed = {name: deque(maxlen=self.window) for name in GROUPS}

    def __call__(self, landmarks_px: np.ndarray) -> np.ndarray:
        swaps = []
        for name, pairs in GROUPS.items():
            swap = self.last is not None and self._closer_swapped(landmarks_px, DECIDING[name])
            history = self.disagreed[name]
            history.append(swap)
            if swap and len(history) == self.window and sum(history) > self.give_up * self.window:
                swap = False  # the track, not MediaPipe, has it the wrong way round
                history.clear()
            if swap:
                swaps += pairs
        self.repaired += bool(swaps)
        index = swap_index(swaps)
        self.last = landmarks_px[index]
        return index

    def _closer_swapped(self, points: np.ndarray, pairs: list[tuple[int, int]]) -> bool:
        mirrored = points.copy()
        for left, right in pairs:
            mirrored[[left, right]] = points[[right, left]]
        return _distance(mirrored, self.last, pairs) < _distance(points, self.last, pairs)
