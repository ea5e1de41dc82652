"""Annotated output on the real sample clip: every frame written, poses drawn where there are poses."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream import wire
from stream.annotate import AnnotatedVideoWriter, annotate_video, poses_by_seq, save_gif
from stream.render import LEFT_BGR, RIGHT_BGR
from synthetic_motion import pose_messages

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"


def near(image: np.ndarray, bgr, tolerance: int = 50) -> np.ndarray:
    return np.abs(image.astype(int) - bgr).max(axis=-1) < tolerance


def coloured(image: np.ndarray, bgr) -> int:
    return int(near(image, bgr).sum())


def read_frame(path: Path, index: int) -> np.ndarray:
    video = cv2.VideoCapture(str(path))
    video.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = video.read()
    video.release()
    assert ok
    return image


def test_every_frame_is_written_and_only_posed_frames_are_drawn_on(tmp_path):
    messages = [wire.decode(m) for m in pose_messages(40, 30.0)]
    poses = {m.seq: [m] for m in messages if m.seq % 4}  # frames 0, 4, 8, ... have no pose
    out = tmp_path / "annotated.mp4"
    counts = annotate_video(SAMPLE, poses, out, progress=False)
    assert counts == {"frames": 230, "annotated": 30, "poses_past_end": 0}
    video = cv2.VideoCapture(str(out))
    assert (video.get(cv2.CAP_PROP_FRAME_COUNT), video.get(cv2.CAP_PROP_FPS)) == (230, 30)
    assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640 + 360, 360)
    video.release()
    posed, bare, source = read_frame(out, 5), read_frame(out, 8), read_frame(SAMPLE, 8)
    for side in (LEFT_BGR, RIGHT_BGR):
        assert coloured(posed[:, :640], side) > coloured(source, side) + 100  # 2D overlay
        assert coloured(posed[:, 640:], side) > 100                           # 3D view
        assert coloured(bare[:, 640:], side) == 0
        assert coloured(bare[:, :640], side) < coloured(source, side) + 30  # nothing drawn...
    assert np.abs(bare[:, :640].astype(int) - source).mean() < 6  # ...and the frame kept (bar mp4 re-encoding)


def test_2d_pose_is_scaled_to_the_frame_and_bad_frames_are_refused(tmp_path):
    message = wire.decode(pose_messages(1, 30.0)[0])  # 2D pose for a 640x360 image
    with AnnotatedVideoWriter(tmp_path / "half.mp4", 30.0, (320, 180)) as writer:
        half = writer.write(np.zeros((180, 320, 3), np.uint8), [message])
        with pytest.raises(ValueError, match="opened for 320x180"):
            writer.write(np.zeros((360, 640, 3), np.uint8))
    full = AnnotatedVideoWriter(tmp_path / "full.mp4", 30.0, (640, 360)).compose(np.zeros((360, 640, 3), np.uint8), [message])
    ys, xs = np.nonzero(near(full[:, :640], RIGHT_BGR))
    ys_half, xs_half = np.nonzero(near(half[:, :320], RIGHT_BGR))
    assert len(xs) > 100 and len(xs_half) > 50
    assert abs(xs.mean() / 2 - xs_half.mean()) < 3 and abs(ys.mean() / 2 - ys_half.mean()) < 3


def test_several_people_are_drawn_side_by_side_with_their_ids(tmp_path):
    one, other = (wire.decode(pose_messages(1, 30.0, seed=seed)[0]) for seed in (0, 1))
    writer = AnnotatedVideoWriter(tmp_path / "two.mp4", 30.0, (640, 360))
    alone, both = (writer.compose(np.zeros((360, 640, 3), np.uint8), people) for people in ([one], [one, other]))
    panel_alone, panel_both = alone[:, 640:], both[:, 640:]
    for side in (LEFT_BGR, RIGHT_BGR):  # one skeleton in the middle; two, one each side of it
        assert coloured(panel_alone[:, 150:210], side) > 50
        assert coloured(panel_both[:, :180], side) > 50 and coloured(panel_both[:, 180:], side) > 50
    assert poses_by_seq([one, other]) == {0: [one, other]}


def test_poses_by_seq_needs_a_stream_when_there_are_several():
    both = [wire.decode(m) for m in pose_messages(3, 30.0, "cam0") + pose_messages(2, 30.0, "cam1", seed=1)]
    with pytest.raises(ValueError, match="choose one"):
        poses_by_seq(both)
    assert sorted(poses_by_seq(both, "cam1")) == [0, 1]
    with pytest.raises(ValueError, match="no pose messages for stream 'cam9'"):
        poses_by_seq(both, "cam9")
    with pytest.raises(FileNotFoundError):
        annotate_video("missing.mp4", {}, "out.mp4", progress=False)


def test_gif_and_still_for_the_readme(tmp_path):
    clip = tmp_path / "clip.mp4"
    with AnnotatedVideoWriter(clip, 30.0, (160, 90)) as writer:
        for k in range(10):
            writer.write(np.full((90, 160, 3), 20 * k, np.uint8))
    gif, still = tmp_path / "a.gif", tmp_path / "a.png"
    info = save_gif(clip, gif, width=120, every=2, still=still)
    assert info["gif_frames"] == 5 and 0 < info["gif_bytes"] == gif.stat().st_size
    from PIL import Image

    with Image.open(gif) as image:
        assert image.n_frames == 5 and image.size == (120, 44) and image.info["duration"] in (60, 70)  # 2/30 s in GIF's 10 ms steps
    assert cv2.imread(str(still)).shape == (90, 250, 3)
