"""Annotated video: each source frame with its 2D skeleton drawn on it and a 3D view beside it.

Every source frame is written, at the source frame rate, whether or not it has a pose: a frame
the pipeline skipped or saw no one in is written as it is, next to an empty floor, so the output
lines up frame for frame with the input. Poses are matched to frames by ``seq``, the frame's
index in its source; a frame with several people shows them all, each 2D skeleton with its id.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from engines.skeleton import JOINT_INDEX
from stream.render import View3D, draw_people_3d, draw_skeleton_2d, put_lines
from stream.wire import MetaFrame, PoseFrame


class AnnotatedVideoWriter:
    """Writes ``image | 3D panel`` frames to an mp4 (OpenCV ``mp4v``); the panel is square,
    as tall as the image, unless ``panel_width`` says otherwise."""

    def __init__(self, path: str | Path, fps: float, image_size: tuple[int, int], panel_width: int | None = None,
                 azimuth: float = 35.0, elevation: float = 15.0) -> None:
        width, height = image_size
        if not fps > 0 or width < 1 or height < 1:
            raise ValueError(f"need fps > 0 and a positive image size, got fps={fps}, size={image_size}")
        self.image_size = (width, height)
        self.view = View3D(size=(panel_width or height, height), azimuth=azimuth, elevation=elevation)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frame_size = (width + self.view.size[0], height)
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, self.frame_size)
        if not self.writer.isOpened():
            raise ValueError(f"cannot write video {str(self.path)!r} (OpenCV mp4v writer did not open)")
        self.frames = self.annotated = 0

    def compose(self, image: np.ndarray, people: Sequence[PoseFrame] = ()) -> np.ndarray:
        """The output frame for ``image`` (BGR, ``image_size``) and the poses of its people, if
        any: every 2D skeleton on the image (with its id when there are several), the 3D ones side
        by side in the panel."""
        if image.shape[1::-1] != self.image_size:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the writer was opened for "
                             f"{self.image_size[0]}x{self.image_size[1]}")
        image = image.copy()
        panel = self.view.blank()
        if not people:
            put_lines(panel, ["no pose"])
        draw_people_3d(panel, [pose.pose3d for pose in people], self.view, [not pose.valid for pose in people])
        for pose in people:
            pose2d = pose.arrays["pose2d"] * (np.array(self.image_size) / pose.header.get("image_size", self.image_size))
            draw_skeleton_2d(image, pose2d, pose.arrays.get("score"))
            if len(people) > 1 and np.isfinite(head := pose2d[JOINT_INDEX["head_top"]]).all():
                put_lines(image, [f"id {pose.header.get('person')}"], origin=(int(head[0]) - 12, max(int(head[1]) - 8, 12)))
        if people:
            held = "" if all(pose.valid for pose in people) else "  held"
            ids = f"  people {', '.join(str(p.header.get('person')) for p in people)}" if len(people) > 1 else ""
            put_lines(panel, [f"seq {people[0].seq}{ids}{held}"])
        return np.hstack([image, panel])

    def write(self, image: np.ndarray, people: Sequence[PoseFrame] = ()) -> np.ndarray:
        """Compose and write one frame; returns what was written."""
        frame = self.compose(image, people)
        self.writer.write(frame)
        self.frames += 1
        self.annotated += bool(people)
        return frame

    def close(self) -> None:
        self.writer.release()

    def __enter__(self) -> "AnnotatedVideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def poses_by_seq(messages: Iterable[PoseFrame | MetaFrame], stream_id: str | None = None
                 ) -> dict[int, list[PoseFrame]]:
    """The pose messages of one stream keyed by ``seq``: one per person in the frame. With
    ``stream_id`` None the messages must all come from one stream (else a ValueError lists them)."""
    poses = [m for m in messages if isinstance(m, PoseFrame)]
    streams = sorted({m.stream_id for m in poses})
    if stream_id is None and len(streams) > 1:
        raise ValueError(f"the messages hold streams {streams}; choose one")
    chosen = [m for m in poses if stream_id in (None, m.stream_id)]
    if not chosen:
        raise ValueError(f"no pose messages for stream {stream_id!r} (streams: {streams})")
    people: dict[int, list[PoseFrame]] = {}
    for message in chosen:
        people.setdefault(message.seq, []).append(message)
    return people


def annotate_video(video: str | Path, poses: Mapping[int, Sequence[PoseFrame]], out: str | Path,
                   panel_width: int | None = None, progress: bool = True) -> dict[str, int]:
    """Write ``out``: every frame of ``video`` annotated with the people of ``poses[frame index]``.

    Returns counts: frames written, annotated, and poses whose ``seq`` is past the video's end.
    A video the recording does not fit (more poses past its end than on its frames: an image,
    another clip) is a ValueError, and nothing is kept.
    """
    if not Path(video).is_file():
        raise FileNotFoundError(f"video not found: {video}")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"cannot read video {str(video)!r}")
    fps = capture.get(cv2.CAP_PROP_FPS)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None  # a stream may not know its length
    try:
        with AnnotatedVideoWriter(out, fps, size, panel_width) as writer, \
                tqdm(total=total, unit="frame", desc="annotating", disable=not progress) as bar:
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                writer.write(image, poses.get(writer.frames, ()))  # frames written so far = this frame's index
                bar.update()
    finally:
        capture.release()
    past_end = sum(seq >= writer.frames for seq in poses)
    if past_end > writer.annotated:
        Path(out).unlink()
        raise ValueError(f"{video} does not fit the recording: {writer.frames} frames, {writer.annotated} with a "
                         f"pose, {past_end} poses past its end (seq {min(poses)}-{max(poses)}); is it the video "
                         "the session was recorded from?")
    return {"frames": writer.frames, "annotated": writer.annotated, "poses_past_end": past_end}


def save_gif(video: str | Path, out: str | Path, width: int = 480, every: int = 3, colors: int = 128,
             still: str | Path | None = None, still_frame: int | None = None) -> dict[str, int]:
    """A looping GIF of ``video`` for READMEs (every ``every``-th frame, scaled to ``width`` px, via
    Pillow), and optionally one full-size frame as a PNG ``still`` (default: the middle one).

    Each frame gets its own ``colors``-colour palette without dithering: dithered video noise
    is what makes GIFs large (the 640x360 sample at 480 px, 10 fps: 3.6 MB dithered, 2.7 MB not)."""
    from PIL import Image

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"cannot read video {str(video)!r}")
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames, index, kept_still = [], 0, None
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    still_frame = total // 2 if still_frame is None else still_frame
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index == still_frame:
            kept_still = image
        if index % every == 0:
            height = round(image.shape[0] * width / image.shape[1] / 2) * 2
            small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            frames.append(Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)).quantize(colors, dither=Image.Dither.NONE))
        index += 1
    capture.release()
    if not frames:
        raise ValueError(f"no frames in {video}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=round(1000 * every / fps), loop=0,
                   optimize=True)
    if still is not None:
        if kept_still is None:
            raise ValueError(f"{video} has no frame {still_frame}")
        cv2.imwrite(str(still), kept_still)
    return {"gif_frames": len(frames), "gif_bytes": Path(out).stat().st_size}
