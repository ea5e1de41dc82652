"""The offline PoseLandmarker bundle: the Tasks API loads it, sees both people of the sample clip,
agrees with solutions.pose on one person, and its cache heals itself."""
import hashlib
import json
import zipfile
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
import pytest
from mediapipe.tasks.python import BaseOptions, vision

import stream.pose_bundle as pose_bundle
from stream.pose_bundle import BUNDLE_NAME, BundledModelMissing, pose_landmarker_bundle

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"
# Crops of the sample clip holding only the woman walking on the grass: (frame, x from, x to).
ONE_PERSON_CROPS = [(i, 320, 640) for i in range(75, 101, 5)] + [(i, 0, 240) for i in range(150, 186, 5)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pose_landmarker_bundle(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def frames():
    cap = cv2.VideoCapture(str(SAMPLE))
    rgb = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(186)]
    cap.release()
    return rgb


def landmarker(bundle, mode):
    options = vision.PoseLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(bundle)),
                                           running_mode=mode, num_poses=2)
    return vision.PoseLandmarker.create_from_options(options)


def as_image(rgb):
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def test_bundle_holds_both_models_and_is_reused(bundle):
    with zipfile.ZipFile(bundle) as zf:
        assert sorted(zf.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
    recorded = json.loads(bundle.with_suffix(".json").read_text())
    assert set(recorded["inputs_sha256"]) == set(pose_bundle.SOURCE_MODELS)
    built_at = bundle.stat().st_mtime_ns
    assert pose_landmarker_bundle(bundle.parent) == bundle and bundle.stat().st_mtime_ns == built_at


def test_both_people_of_the_sample_clip_are_tracked(bundle, frames):
    """The man on the box and the woman on the grass, each seen from frame 60 on, stay tracked together."""
    with landmarker(bundle, vision.RunningMode.VIDEO) as tracker:
        noses_y = [[pose[0].y * 360 for pose in tracker.detect_for_video(as_image(frames[i]), i * 33).pose_landmarks]
                   for i in range(50, 141)]
    both = [sorted(ys) for ys in noses_y[20:] if len(ys) == 2]
    assert len(both) >= 0.9 * len(noses_y[20:])
    assert all(on_box < 100 < 170 < on_grass for on_box, on_grass in both)


def test_landmarks_agree_with_solutions_pose_on_one_person(bundle, frames):
    """Same two models, same [0, 1] input: the 33 landmarks match the legacy graph's to a pixel or two."""
    errors = []
    with landmarker(bundle, vision.RunningMode.IMAGE) as tasks, \
            mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as legacy:
        for i, x0, x1 in ONE_PERSON_CROPS:
            crop = frames[i][:, x0:x1]
            size = np.array([crop.shape[1], crop.shape[0]])
            want = np.array([(p.x, p.y) for p in legacy.process(crop).pose_landmarks.landmark]) * size
            poses = [np.array([(p.x, p.y) for p in pose]) * size for pose in tasks.detect(as_image(crop)).pose_landmarks]
            errors.append(min((np.linalg.norm(got - want, axis=1) for got in poses), key=np.median))
    errors = np.concatenate(errors)
    print(f"landmark difference over {len(ONE_PERSON_CROPS)} crops: median {np.median(errors):.3f} px, "
          f"max {errors.max():.2f} px")
    assert np.median(errors) < 0.5 and errors.max() < 3.0


def test_a_corrupt_or_stale_cache_is_rebuilt(tmp_path):
    cached = tmp_path / BUNDLE_NAME
    sidecar = cached.with_suffix(".json")
    for damage in (lambda: cached.write_bytes(cached.read_bytes()[:-100]),
                   lambda: sidecar.write_text("{"),
                   lambda: sidecar.write_text(sidecar.read_text().replace('"landmark_input_std"', '"was"')),
                   lambda: cached.unlink()):
        pose_landmarker_bundle(tmp_path)
        recorded = json.loads(sidecar.read_text())
        damage()
        pose_landmarker_bundle(tmp_path)
        assert zipfile.ZipFile(cached).testzip() is None
        rebuilt = json.loads(sidecar.read_text())
        assert rebuilt.keys() == recorded.keys()
        assert rebuilt["bundle_sha256"] == hashlib.sha256(cached.read_bytes()).hexdigest()


def test_a_missing_bundled_model_is_a_one_line_error(tmp_path, monkeypatch):
    missing = tmp_path / "pose_landmark_full.tflite"
    monkeypatch.setitem(pose_bundle.SOURCE_MODELS, "pose_landmarks_detector.tflite", missing)
    with pytest.raises(BundledModelMissing, match="pose_landmark_full.tflite") as error:
        pose_landmarker_bundle(tmp_path)
    assert "\n" not in str(error.value)
