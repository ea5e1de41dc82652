"""Synthetic data for tests: a rigid H36M-17 walker (forward kinematics of a fixed skeleton, so bone
lengths and the pelvis and shoulder triangles are exactly constant, in the pipeline's camera
coordinates), and a recorded session of it published through the real wire code and publisher."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engines.skeleton import HEAD_TOP_FACE_SCALE, JOINT_NAMES, MP, PARENTS
from engines.skeleton import JOINT_INDEX as J
from stream import wire
from stream.pose2d import Pose2D
from stream.publisher import Publisher
from stream.record import FrameRecord
from stream.recorder import Recorder, record

IMAGE_SIZE = (640, 360)
FOCAL_PX = 500.0

# Rest offsets from the parent joint, metres, in a Y-up frame facing +Z (the person's left is +X).
REST = np.zeros((17, 3))
REST[J["right_hip"]], REST[J["left_hip"]] = (-0.12, -0.02, 0.0), (0.12, -0.02, 0.0)
REST[J["right_knee"]] = REST[J["left_knee"]] = (0.0, -0.44, 0.0)
REST[J["right_ankle"]] = REST[J["left_ankle"]] = (0.0, -0.42, 0.02)
REST[J["spine"]], REST[J["thorax"]] = (0.0, 0.24, -0.02), (0.0, 0.26, 0.01)
REST[J["neck_nose"]], REST[J["head_top"]] = (0.0, 0.15, 0.08), (0.0, 0.2, -0.05)
REST[J["left_shoulder"]], REST[J["right_shoulder"]] = (0.17, -0.02, 0.0), (-0.17, -0.02, 0.0)
REST[J["left_elbow"]] = REST[J["right_elbow"]] = (0.0, -0.28, 0.0)
REST[J["left_wrist"]] = REST[J["right_wrist"]] = (0.0, -0.26, 0.0)


def walking(frames: int = 60, fps: float = 30.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A turning walk: ((frames, 17, 3) root-relative camera-coordinate poses, (frames, 3) pelvis
    positions from the camera), metres."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    phase = 2 * np.pi * 1.0 * t + rng.uniform(0, 2 * np.pi)
    local = {j: np.zeros((frames, 3)) for j in range(17)}  # rotation vectors (x, y, z) per joint
    local[0][:, 1] = 0.8 * np.sin(0.5 * t) + rng.uniform(-1, 1)   # pelvis turns about the vertical
    local[0][:, 0] = 0.1 * np.sin(phase * 2)                     # and rocks forward a little
    for hip, knee, sign in ((J["right_hip"], J["right_knee"], 1), (J["left_hip"], J["left_knee"], -1)):
        local[hip][:, 0] = -0.5 * sign * np.sin(phase)
        local[hip][:, 2] = 0.1 * sign
        local[knee][:, 0] = 0.6 * (1 + sign * np.cos(phase))
    for shoulder, elbow, sign in ((J["left_shoulder"], J["left_elbow"], 1), (J["right_shoulder"], J["right_elbow"], -1)):
        local[shoulder][:, 0] = -0.5 * sign * np.sin(phase)
        local[shoulder][:, 2] = 0.3 * sign
        local[elbow][:, 0] = -0.4 - 0.3 * sign * np.sin(phase)
    local[J["spine"]][:, 1] = 0.2 * np.sin(phase)
    local[J["neck_nose"]][:, 0] = 0.2 * np.sin(0.7 * t)

    world_rot = [None] * 17
    positions = np.zeros((frames, 17, 3))
    for j, parent in enumerate(PARENTS):
        rot = Rotation.from_rotvec(local[j])
        if parent < 0:
            world_rot[j] = rot
            continue
        positions[:, j] = positions[:, parent] + world_rot[parent].apply(REST[j])
        world_rot[j] = world_rot[parent] * rot
    flip = np.array([1.0, -1.0, -1.0])  # Y-up facing +Z -> camera x right, y down, z forward
    root = np.stack([0.3 * np.sin(0.5 * t), np.full(frames, 0.2), 3.5 + 0.5 * t], -1)
    return (positions * flip).astype(np.float32), root.astype(np.float32)


def project(pose3d: np.ndarray, root: np.ndarray, focal_px: float, size: tuple[int, int]) -> np.ndarray:
    """Pinhole projection of root-relative camera poses placed at ``root`` -> (..., 17, 2) pixels."""
    points = pose3d + root[..., None, :]
    width, height = size
    return focal_px * points[..., :2] / points[..., 2:] + (width / 2, height / 2)


def landmarks_from_h36m(xy: np.ndarray) -> np.ndarray:
    """(..., 17, D) H36M points -> (..., 33, D) MediaPipe landmarks that map back onto them
    exactly (so synthetic poses can go through the real ``Pose2D`` and wire encoder)."""
    xy = np.asarray(xy)
    landmarks = np.zeros(xy.shape[:-2] + (33, xy.shape[-1]), np.float32)
    for side in ("left", "right"):
        for mp, h36m in (("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"), ("heel", "ankle"),
                         ("foot_index", "ankle"), ("shoulder", "shoulder"), ("elbow", "elbow"),
                         ("wrist", "wrist"), ("pinky", "wrist"), ("index", "wrist"), ("thumb", "wrist")):
            landmarks[..., MP[f"{side}_{mp}"], :] = xy[..., J[f"{side}_{h36m}"], :]
    nose, top = xy[..., J["neck_nose"], :], xy[..., J["head_top"], :]
    for name in ("nose", "left_ear", "right_ear", "mouth_left", "mouth_right"):
        landmarks[..., MP[name], :] = nose
    for name in ("left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer"):
        landmarks[..., MP[name], :] = nose + (top - nose) / HEAD_TOP_FACE_SCALE
    return landmarks


def pose_messages(frames: int, fps: float, stream_id: str = "cam0", seed: int = 0) -> list[list[bytes]]:
    """The walker as wire messages, encoded by the real encoder from real ``Pose2D`` and
    ``FrameRecord`` objects; every 10th frame has no root, frame 7 of every 15 is a held pose."""
    poses, roots = walking(frames, fps, seed)
    pixels = project(poses, roots, FOCAL_PX, IMAGE_SIZE)
    t0 = time.time_ns()
    messages = []
    for seq in range(frames):
        pose2d = Pose2D(landmarks_from_h36m(pixels[seq]), np.ones(33, np.float32), np.zeros((33, 3), np.float32),
                        IMAGE_SIZE, person_id=seed)
        t_capture = t0 + round(seq * 1e9 / fps)
        rec = FrameRecord(seq, "video:walk", t_capture, IMAGE_SIZE, pose2d=pose2d, pose3d=poses[seq],
                          root=None if seq % 10 == 0 else roots[seq], valid=seq % 15 != 7,
                          stamps={"capture": t_capture, "read": t_capture + 2_000_000, "lift": t_capture + 30_000_000})
        messages.append(wire.encode_pose(rec, stream_id, lookahead=0, fps=fps, t_publish_ns=t_capture + 31_000_000))
    return messages


def record_session(path: Path, frames: int = 45, fps: float = 30.0, stream_ids: tuple[str, ...] = ("cam0",)
                   ) -> list[list[bytes]]:
    """Publish ``frames`` walker poses per stream at ``fps`` on loopback while ``stream.recorder.record``
    listens, save the recording to ``path`` and return the pose messages that were sent."""
    pub = Publisher("tcp://127.0.0.1:*", stream_ids[0], meta_interval_s=0.5)
    pub.description = {"joint_names": list(JOINT_NAMES), "parents": list(PARENTS), "fps": fps}
    per_stream = [pose_messages(frames, fps, sid, seed) for seed, sid in enumerate(stream_ids)]
    got = {}
    listener = threading.Thread(target=lambda: got.update(recorder=record(pub.endpoint, None, idle_timeout_s=1.0)))
    listener.start()
    sent = []
    try:
        if not pub.wait_for_subscriber(10):
            raise RuntimeError("the recorder never subscribed")
        for sid in stream_ids[1:]:
            pub.send(wire.encode_meta(sid, pub.description))
        start = time.perf_counter()
        for k in range(frames):
            time.sleep(max(0.0, start + k / fps - time.perf_counter()))
            pub.service()
            for messages in per_stream:
                if not pub.send(messages[k]):
                    raise RuntimeError("the publisher dropped a message")
                sent.append(messages[k])
        listener.join()
    finally:
        pub.close()
    got["recorder"].save(path)
    return sent


def two_people_recording(path: Path, frames: tuple[int, int] = (14, 12), fps: float = 30.0) -> Path:
    """A recording of one stream in which the pipeline followed one walker (person 0), then another
    (person 1, elsewhere in the room), ``seq`` counting on: what ``tools/subscribe.py --record`` keeps."""
    recorder = Recorder()
    for k, parts in enumerate(pose_messages(frames[0], fps, seed=0) + pose_messages(frames[1], fps, seed=1)):
        frame = wire.decode(parts)
        frame.header["seq"] = frame.seq = k
        recorder.keep(frame)
    return recorder.save(path)
