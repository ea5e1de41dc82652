"""Make assets/sample_pose2d.npz: MediaPipe 2D poses of assets/sample.mp4 in the lifter's input space.

Real windows for the engine parity tests and the GPU check without running MediaPipe in every test session.
Run from the repository root:  .venv/bin/python tests/data/make_sample_pose2d.py

The file holds ``pose2d`` (N, 17, 2) float32 (H36M-17, ``normalize_screen``), ``scores`` (N, 17),
``frame`` (N,) the video frame index of each row (frames without a person are left out), plus the
image size and the clip's sha256.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from tqdm import tqdm

from engines.skeleton import mediapipe_scores_to_h36m, mediapipe_to_h36m, normalize_screen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path("assets/sample.mp4"))
    parser.add_argument("--out", type=Path, default=Path("assets/sample_pose2d.npz"))
    args = parser.parse_args()
    capture = cv2.VideoCapture(str(args.video))
    if not capture.isOpened():
        print(f"error: cannot open video {args.video}", file=sys.stderr)
        return 2
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    poses, scores, frames = [], [], []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        for index in tqdm(range(total), desc="mediapipe", unit="frame"):
            ok, image = capture.read()
            if not ok:
                break
            height, width = image.shape[:2]
            result = pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            if result.pose_landmarks is None:
                continue
            lm = np.array([(p.x * width, p.y * height, p.visibility) for p in result.pose_landmarks.landmark],
                          dtype=np.float32)
            poses.append(normalize_screen(mediapipe_to_h36m(lm[:, :2]), width, height))
            scores.append(mediapipe_scores_to_h36m(lm[:, 2]))
            frames.append(index)
    capture.release()
    if not poses:
        print(f"error: MediaPipe found no person in {args.video}", file=sys.stderr)
        return 2
    sha = hashlib.sha256(args.video.read_bytes()).hexdigest()
    np.savez_compressed(args.out, pose2d=np.stack(poses), scores=np.stack(scores), frame=np.array(frames),
                        width=width, height=height, video_sha256=sha)
    print(f"{args.out}: {len(poses)} of {total} frames with a person")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
