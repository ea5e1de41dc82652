"""A 3D reference from synchronised, calibrated videos of one scene (a Pose2Sim-like multi-camera mode).

Two passes over the videos:

1. **Find the person.** Each frame of each view is searched for up to ``max_people`` people
   (BlazePose in image mode; each person found is masked out and the image searched again).
   Detections are associated across views by triangulating every combination and keeping the
   ones that reproject best; people are followed over time by the distance of their pelvis. The
   person followed is the one seen in most views over most frames, or the one nearest ``near``.
2. **Measure it.** Each view is run again with BlazePose in video mode, as the live pipeline runs
   it, on a crop that follows that person; the crop's landmarks and MediaPipe's world landmarks
   are kept. Left/right label swaps are repaired per view against the others, and the 33
   landmarks are triangulated robustly (:mod:`engines.triangulate`); gaps of up to ``max_gap``
   frames are interpolated, the tracks low-passed (Butterworth, 6 Hz, as Pose2Sim does) and
   mapped to H36M-17 with the project's one mapping (:func:`engines.skeleton.mediapipe_to_h36m`).

The result (:func:`build_reference`) holds everything an evaluation needs per camera: the
reference in world metres, each view's 2D and world landmarks, and the reprojection errors.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from engines.calibration import Camera, load_calibration
from engines.skeleton import MP, NUM_MEDIAPIPE_LANDMARKS, mediapipe_swap, mediapipe_to_h36m
from engines.reference import SWAPS, Reference
from engines.triangulate import dlt, fill_gaps, low_pass, repair_swaps, reprojection_errors, triangulate
from stream.pose2d import Pose2D
from stream.pose2d.solutions import SolutionsPose

# Landmarks that locate a person for association: shoulders, hips, knees, ankles, elbows, wrists.
_BODY = [MP[f"{s}_{j}"] for s in ("left", "right")
         for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


# --- videos ------------------------------------------------------------------------------------

def read_videos(paths: Sequence[str | Path]) -> tuple[list[np.ndarray], float]:
    """All frames of each video (they are short) and the common frame rate."""
    videos, rates = [], []
    for path in paths:
        capture = cv2.VideoCapture(str(path))
        if not Path(path).is_file() or not capture.isOpened():
            raise FileNotFoundError(f"video not found or unreadable: {path}")
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        rates.append(capture.get(cv2.CAP_PROP_FPS))
        capture.release()
        if not frames:
            raise ValueError(f"{path}: no frames could be decoded")
        videos.append(np.stack(frames))
    lengths = {len(v) for v in videos}
    if len(lengths) > 1 or len({round(r, 3) for r in rates}) > 1:
        raise ValueError(f"videos are not synchronised: frames {[len(v) for v in videos]}, fps {rates}")
    return videos, float(rates[0])


def match_cameras(cameras: Sequence[Camera], paths: Sequence[str | Path]) -> list[Camera]:
    """The calibrated camera of each video, matched by name (``cam01.mp4`` -> camera ``cam01``),
    else by order when the counts agree."""
    by_name = {c.name: c for c in cameras}
    stems = [Path(p).stem for p in paths]
    if all(s in by_name for s in stems):
        return [by_name[s] for s in stems]
    if len(cameras) == len(paths):
        return list(cameras)
    raise ValueError(f"{len(paths)} videos ({stems}) but the calibration has cameras {list(by_name)}")


# --- pass 1: who is where ----------------------------------------------------------------------

def _box(points: np.ndarray, pad: float) -> np.ndarray:
    low, high = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    margin = (high - low) * pad
    return np.concatenate([low - margin, high + margin])


def detect_people(pose: SolutionsPose, image: np.ndarray, max_people: int) -> list[Pose2D]:
    """Up to ``max_people`` people in one image (``pose`` in image mode): find, mask, repeat."""
    image = image.copy()
    people = []
    for _ in range(max_people):
        found = next(iter(pose.estimate(image, 0)), None)  # the legacy solution sees one person at most
        if found is None:
            break
        people.append(found)
        x0, y0, x1, y1 = _box(found.landmarks_px, 0.1).round().astype(int)
        image[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 127
    return people


def _agrees(landmarks: np.ndarray, expected: np.ndarray, tolerance: float) -> bool:
    """Whether detected landmarks (33, 2) lie on the expected body landmarks (12, 2)."""
    return np.median(np.linalg.norm(landmarks[_BODY] - expected, axis=-1)) < tolerance


def _closest(finder: SolutionsPose, image: np.ndarray, expected: np.ndarray, tolerance: float,
             max_people: int) -> Pose2D | None:
    """The person of ``image`` that lies on the expected body landmarks (12, 2), if any, searched
    in a tight crop around them, where an occluder is less of the picture."""
    crop, offset = _crop(image, _square(_box(expected, 0.15)))
    people = []
    for person in detect_people(finder, crop, max_people):
        person.landmarks_px = person.landmarks_px + offset
        if _agrees(person.landmarks_px, expected, tolerance):
            people.append(person)
    return min(people, key=lambda p: np.median(np.linalg.norm(p.landmarks_px[_BODY] - expected, axis=-1)),
               default=None)


def _square(box: np.ndarray) -> np.ndarray:
    centre, side = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max()
    return np.concatenate([centre - side / 2, centre + side / 2])


def associate(candidates: list[list[Pose2D]], cameras: Sequence[Camera],
              max_error_px: float, view_penalty_px: float = 10.0) -> list[tuple[np.ndarray, float, int]]:
    """People of one frame from per-view candidates: (body landmarks (12, 3), error px, views).

    Every combination of one candidate (or none) per view is triangulated; the best one (mean
    reprojection error plus a penalty per missing view) is a person, its candidates are removed,
    and the search repeats while a combination of two or more views reprojects within
    ``max_error_px``."""
    people = []
    remaining = [list(range(len(c))) for c in candidates]
    while True:
        combos = [c for c in itertools.product(*[[None] + r for r in remaining])
                  if sum(i is not None for i in c) >= 2]
        if not combos:
            return people
        V, J = len(cameras), len(_BODY)
        px = np.zeros((V, len(combos), J, 2))
        w = np.zeros((V, len(combos), J))
        for k, combo in enumerate(combos):
            for v, i in enumerate(combo):
                if i is not None:
                    px[v, k], w[v, k] = candidates[v][i].landmarks_px[_BODY], candidates[v][i].visibility[_BODY]
        norm = np.stack([cam.normalized(px[v]) for v, cam in enumerate(cameras)])
        points = dlt(norm, w, cameras)
        errors = reprojection_errors(points, px, cameras)
        used = w > 0.3
        mean = np.where(used, np.nan_to_num(errors), 0).sum((0, 2)) / np.maximum(used.sum((0, 2)), 1)
        views = np.array([sum(i is not None for i in c) for c in combos])
        score = mean + view_penalty_px * (V - views)
        best = int(np.argmin(np.where(np.isfinite(points).all((1, 2)), score, np.inf)))
        if not mean[best] <= max_error_px:
            return people
        people.append((points[best], float(mean[best]), int(views[best])))
        for v, i in enumerate(combos[best]):
            if i is not None:
                remaining[v].remove(i)


def follow(people: list[list[tuple[np.ndarray, float, int]]], max_step_m: float) -> list[dict[int, np.ndarray]]:
    """Track ids over frames by pelvis distance: per frame, {track id: body landmarks (12, 3)}."""
    hips = [_BODY.index(MP["left_hip"]), _BODY.index(MP["right_hip"])]
    tracks: list[dict[int, np.ndarray]] = []
    last: dict[int, np.ndarray] = {}
    next_id = 0
    for frame in people:
        pelvis = [p[0][hips].mean(0) for p in frame]
        ids = list(last)
        assigned: dict[int, np.ndarray] = {}
        if ids and pelvis:
            cost = np.array([[np.linalg.norm(last[t] - q) for q in pelvis] for t in ids])
            for r, c in zip(*linear_sum_assignment(cost)):
                if cost[r, c] <= max_step_m:
                    assigned[c] = ids[r]
        current = {}
        for c, person in enumerate(frame):
            if c not in assigned:
                assigned[c], next_id = next_id, next_id + 1
            current[assigned[c]] = person[0]
            last[assigned[c]] = pelvis[c]
        tracks.append(current)
    return tracks


def choose_track(tracks: list[dict[int, np.ndarray]], near: np.ndarray | None) -> int:
    """The track followed: the one present in most frames, or the one whose mean pelvis is
    nearest ``near`` (world metres)."""
    ids = sorted({t for frame in tracks for t in frame})
    if not ids:
        raise ValueError("no person was seen consistently by two or more cameras")
    if near is None:
        return max(ids, key=lambda t: sum(t in frame for frame in tracks))
    hips = [_BODY.index(MP["left_hip"]), _BODY.index(MP["right_hip"])]
    mean = {t: np.mean([f[t][hips].mean(0) for f in tracks if t in f], axis=0) for t in ids}
    return min(ids, key=lambda t: np.linalg.norm(mean[t] - near))


def fill_track(track: list[np.ndarray | None]) -> np.ndarray:
    """(N, 12, 3) body landmarks of the followed person, interpolated where it was not found."""
    seen = [i for i, p in enumerate(track) if p is not None]
    points = np.stack([track[i] for i in seen]).reshape(len(seen), -1)
    filled = np.stack([np.interp(np.arange(len(track)), seen, points[:, k]) for k in range(points.shape[1])], -1)
    return filled.reshape(len(track), -1, 3)


def crop_boxes(track: np.ndarray, cameras: Sequence[Camera], pad: float = 0.25) -> np.ndarray:
    """(V, N, 4) square crops x0, y0, x1, y1 around the followed person (N, 12, 3) in every
    view, of one size per view, their centres smoothed over 5 frames."""
    n = len(track)
    boxes = np.zeros((len(cameras), n, 4))
    for v, cam in enumerate(cameras):
        raw = np.array([_box(cam.project(p), pad) for p in track])
        side = (raw[:, 2:] - raw[:, :2]).max()  # one size per view: the crop's scale stays put
        centres = (raw[:, :2] + raw[:, 2:]) / 2
        kernel = np.ones(5) / 5
        centres = np.stack([np.convolve(np.pad(centres[:, k], 2, mode="edge"), kernel, "valid")
                            for k in (0, 1)], -1)
        boxes[v] = np.concatenate([centres - side / 2, centres + side / 2], -1)
    return boxes


def _crop(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image inside ``box`` (padded with grey where it leaves the image) and its offset."""
    x0, y0, x1, y1 = box.round().astype(int)
    h, w = image.shape[:2]
    out = np.full((y1 - y0, x1 - x0, 3), 127, dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out, np.array([x0, y0], dtype=np.float32)


# --- the whole job -----------------------------------------------------------------------------

def build_reference(videos: Sequence[str | Path], calibration: str | Path, near: Sequence[float] | None = None,
                    max_people: int = 3, max_error_px: float = 25.0, max_gap: int = 5, progress: bool = True) -> Reference:
    """Triangulate the followed person of synchronised ``videos`` (see the module doc)."""
    frames, fps = read_videos(videos)
    cameras = [cam.for_image(v.shape[2], v.shape[1])
               for cam, v in zip(match_cameras(load_calibration(calibration), videos), frames)]
    num_views, num_frames = len(frames), len(frames[0])

    finder = SolutionsPose(static_image_mode=True)
    people = []
    for i in tqdm(range(num_frames), desc="finding people", disable=not progress):
        candidates = [detect_people(finder, frames[v][i], max_people) for v in range(num_views)]
        people.append(associate(candidates, cameras, max_error_px=4 * max_error_px))
    tracks = follow(people, max_step_m=0.5)
    target = choose_track(tracks, None if near is None else np.asarray(near, dtype=np.float64))
    track = fill_track([frame.get(target) for frame in tracks])
    boxes = crop_boxes(track, cameras)

    pixels = np.full((num_views, num_frames, NUM_MEDIAPIPE_LANDMARKS, 2), np.nan)
    visibility = np.zeros((num_views, num_frames, NUM_MEDIAPIPE_LANDMARKS))
    world = np.full((num_views, num_frames, NUM_MEDIAPIPE_LANDMARKS, 3), np.nan)
    searched = np.zeros((num_views, num_frames), dtype=bool)
    for v in tqdm(range(num_views), desc="landmarks per view", disable=not progress):
        follower = SolutionsPose()  # video mode, as live
        for i in range(num_frames):
            crop, offset = _crop(frames[v][i], boxes[v, i])
            expected = cameras[v].project(track[i]) - offset
            tolerance = 0.06 * (boxes[v, i, 2] - boxes[v, i, 0])
            found = next(iter(follower.estimate(crop, int(i * 1000 / fps))), None)
            if found is None or not _agrees(found.landmarks_px, expected, tolerance):
                # Lost, or following someone else (an occluder in the crop): search the image
                # around the followed person and restart the tracker.
                searched[v, i] = True
                follower.close()
                follower = SolutionsPose()
                found = _closest(finder, frames[v][i], expected + offset, tolerance, max_people)
            else:
                found.landmarks_px = found.landmarks_px + offset
            if found is not None:
                pixels[v, i] = found.landmarks_px
                visibility[v, i] = found.visibility
                world[v, i] = found.world
        follower.close()
    finder.close()

    repaired_px, repaired_vis, swaps = repair_swaps(pixels, visibility, cameras,
                                                    [mediapipe_swap(p) for p in SWAPS], max_error_px=max_error_px)
    result = triangulate(repaired_px, repaired_vis, cameras, max_error_px=max_error_px)
    # Swap repairs relabel the view's own landmarks too: the stored 2D and world landmarks are
    # as detected, the reference is as repaired.
    landmarks3d = low_pass(fill_gaps(result.points, max_gap), fps)
    return Reference(cameras, fps, mediapipe_to_h36m(landmarks3d), landmarks3d, pixels, visibility,
                     world, result.error_px, swaps, searched)
