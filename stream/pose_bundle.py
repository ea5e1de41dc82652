"""A multi-person PoseLandmarker ``.task`` bundle, made offline from the models mediapipe ships.

The Tasks API's ``PoseLandmarker`` can see several people (``num_poses``) but loads only a
``.task`` bundle, which cannot be downloaded here. mediapipe's legacy ``solutions.pose`` ships the
same two models loose. The detector already carries TFLite metadata. The landmark model carries
none, and without it the Tasks API refuses to normalise a float input. So its metadata is written
here, with mediapipe's own metadata writer, using the [0, 1] input range that the legacy graph
(``PoseLandmarkByRoiCpu``) gives it. The bundle is built at first use and cached with the sha256
of its inputs and of itself, so an upgraded mediapipe or a damaged file means a rebuild.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import mediapipe
from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, model_asset_bundle_utils

from engines.runtime.cache import atomic_write_bytes, default_cache_dir, stale_reasons

_MEDIAPIPE = Path(mediapipe.__file__).resolve().parent
# Bundle member name (what the Tasks graph looks for) -> the model mediapipe ships for solutions.pose.
SOURCE_MODELS = {
    "pose_detector.tflite": _MEDIAPIPE / "modules" / "pose_detection" / "pose_detection.tflite",
    "pose_landmarks_detector.tflite": _MEDIAPIPE / "modules" / "pose_landmark" / "pose_landmark_full.tflite",
}
# (pixel - mean) / std maps [0, 255] to [0, 1], the landmark model's range in PoseLandmarkByRoiCpu.
LANDMARK_INPUT_MEAN, LANDMARK_INPUT_STD = [0.0], [255.0]
# The landmark model's outputs, in its own order.
LANDMARK_OUTPUTS = ("landmarks", "pose_presence", "segmentation_mask", "heatmap", "world_landmarks")
BUNDLE_NAME = "pose_landmarker_full.task"


class BundledModelMissing(FileNotFoundError):
    """mediapipe's installation lacks a model the bundle is made from."""


def pose_landmarker_bundle(cache_dir: Path | None = None) -> Path:
    """Path of the cached bundle, built first when it is missing, stale or corrupt."""
    bundle = Path(cache_dir or default_cache_dir()) / BUNDLE_NAME
    sources = {name: _read_source(path, name) for name, path in SOURCE_MODELS.items()}
    key = _bundle_key(sources)
    if stale_reasons(bundle, key) or not _matches_recorded_sha256(bundle):
        data = _build_bundle(sources)
        atomic_write_bytes(bundle, data)
        atomic_write_bytes(bundle.with_suffix(".json"),
                           json.dumps({**key, "bundle_sha256": _sha256(data)}, indent=1).encode())
    return bundle


def _bundle_key(sources: dict[str, bytes]) -> dict:
    """Everything the bundle's content depends on: the source models and the landmark normalisation."""
    return {"inputs_sha256": {name: _sha256(model) for name, model in sources.items()},
            "landmark_input_mean": LANDMARK_INPUT_MEAN, "landmark_input_std": LANDMARK_INPUT_STD}


def _matches_recorded_sha256(bundle: Path) -> bool:
    recorded = json.loads(bundle.with_suffix(".json").read_text()).get("bundle_sha256")
    return recorded == _sha256(bundle.read_bytes())


def _build_bundle(sources: dict[str, bytes]) -> bytes:
    """The zip the Tasks API reads: the detector as shipped, the landmark model with its metadata."""
    members = {**sources, "pose_landmarks_detector.tflite": _with_landmark_metadata(sources["pose_landmarks_detector.tflite"])}
    out = io.BytesIO()
    model_asset_bundle_utils.create_model_asset_bundle(members, out)
    return out.getvalue()


def _with_landmark_metadata(model: bytes) -> bytes:
    """The landmark model with the TFLite metadata that tells the Tasks API how to feed it an RGB image."""
    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info("BlazePose GHUM 3D full", "Pose landmarks of one person in a region of interest.")
    writer.add_image_input(norm_mean=LANDMARK_INPUT_MEAN, norm_std=LANDMARK_INPUT_STD)
    for name in LANDMARK_OUTPUTS:
        writer.add_feature_output(name=name)
    model_with_metadata, _ = writer.populate()
    return bytes(model_with_metadata)


def _read_source(path: Path, name: str) -> bytes:
    if not path.is_file():
        raise BundledModelMissing(f"mediapipe {mediapipe.__version__} does not ship {path} (needed for {name})")
    return path.read_bytes()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
