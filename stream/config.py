"""Typed settings for the live pipeline, loaded from YAML with command-line overrides.

Every setting has a default here and a comment in ``config.yaml``. Unknown keys are errors
(``extra="forbid"``) so a typo never silently falls back to a default. YAML is read with
``yaml.safe_load`` and override values are parsed as YAML scalars: nothing is evaluated as code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engines.fusion import TAU_S
from engines.overrides import parse_override, set_path
from engines.skeleton import JOINT_NAMES
from stream.publisher import endpoint_problem, is_local_endpoint


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceSettings(_Section):
    uri: str = "0"
    as_fast_as_possible: bool = False
    images_fps: float = Field(30.0, gt=0)
    camera_width: int | None = Field(None, gt=0)
    camera_height: int | None = Field(None, gt=0)
    camera_fps: float | None = Field(None, gt=0)
    loop: bool = False
    reconnect_backoff_s: float = Field(0.5, gt=0)
    reconnect_backoff_max_s: float = Field(5.0, gt=0)
    reconnect_timeout_s: float | None = Field(None, ge=0)
    stall_s: float | None = Field(2.0, gt=0)

    @field_validator("uri", mode="before")
    @classmethod
    def _index_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Pose2DSettings(_Section):
    backend: str = "solutions"  # a name of stream.pose2d.BACKENDS
    model_complexity: Literal[0, 1, 2] = 1
    task_file: Path | None = None
    num_poses: int = Field(2, ge=1)
    min_detection_confidence: float = Field(0.5, ge=0, le=1)
    min_tracking_confidence: float = Field(0.5, ge=0, le=1)
    max_people: int = Field(1, ge=1)
    lost_s: float = Field(1.5, gt=0)
    reentry_s: float = Field(5.0, gt=0)

    @field_validator("backend")
    @classmethod
    def _registered(cls, value: str) -> str:
        from stream.pose2d import BACKENDS

        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r}; choose one of {', '.join(BACKENDS)}")
        return value

    @model_validator(mode="after")
    def _can_see_max_people(self) -> "Pose2DSettings":
        if self.max_people > 1 and self.backend == "solutions":
            raise ValueError(f"max_people {self.max_people} needs backend 'tasks': 'solutions' sees one person")
        if self.backend == "tasks" and self.num_poses < self.max_people:
            raise ValueError(f"max_people {self.max_people} is more than the {self.num_poses} people num_poses "
                             "lets the detector find")
        if self.lost_s > self.reentry_s:
            raise ValueError(f"lost_s {self.lost_s} must not exceed reentry_s {self.reentry_s}")
        return self


class LifterSettings(_Section):
    weights: Path | None = None
    backend: str = "auto"
    lookahead: int = Field(0, ge=0)
    threads: int | None = Field(1, ge=1)
    frame_cache: bool | None = None
    flip: bool = False
    fuse_world: bool = True
    fuse_tau_s: float = Field(TAU_S, ge=0)
    max_batch: int = Field(1, ge=1)
    hold_frames: int = Field(5, ge=0)
    min_key_score: float = Field(0.5, ge=0, le=1)
    key_joints: list[str] = Field(["left_hip", "right_hip", "left_shoulder", "right_shoulder"], min_length=1)

    @field_validator("key_joints")
    @classmethod
    def _known_joints(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in JOINT_NAMES]
        if unknown:
            raise ValueError(f"unknown joint(s) {', '.join(unknown)}; choose from {', '.join(JOINT_NAMES)}")
        return names


class RootSettings(_Section):
    enabled: bool = True
    focal_px: float | None = Field(None, gt=0)
    hfov_deg: float = Field(60.0, gt=0, lt=180)


class FilterSettings(_Section):
    enabled: bool = False
    min_cutoff: float = Field(1.0, gt=0)
    beta: float = Field(0.5, ge=0)
    d_cutoff: float = Field(1.0, gt=0)


class PublisherSettings(_Section):
    endpoint: str = "tcp://127.0.0.1:5556"
    stream_id: str = Field("cam0", pattern=r"^[A-Za-z0-9_.-]+$")
    send_hwm: int = Field(30, ge=1)
    meta_interval_s: float = Field(1.0, gt=0)
    wait_for_subscriber_s: float = Field(0.0, ge=0)
    allow_remote: bool = False
    curve_secret_key: Path | None = None
    curve_allowed_clients: Path | None = None

    @model_validator(mode="after")
    def _safe_by_default(self) -> "PublisherSettings":
        if (problem := endpoint_problem(self.endpoint, bind=True)) is not None:
            raise ValueError(problem)
        if not self.allow_remote and not is_local_endpoint(self.endpoint):
            raise ValueError(f"endpoint {self.endpoint!r} is reachable from other machines; "
                             "set publisher.allow_remote: true to mean it")
        if (self.curve_secret_key is None) != (self.curve_allowed_clients is None):
            raise ValueError("CurveZMQ needs both curve_secret_key and curve_allowed_clients")
        return self


class PipelineSettings(_Section):
    frame_queue: int = Field(1, ge=1)
    pose_queue: int = Field(32, ge=1)
    max_frames: int | None = Field(None, ge=1)
    report: Path | None = None
    report_frames: int = Field(18000, ge=1)
    print_report: bool = True


class _SinkSettings(_Section):
    queue: int = Field(64, ge=1)  # frames waiting for this sink; a full queue drops its oldest
    process: bool = True  # run it in a child process (stream/sinks/process.py), off the pipeline's GIL


class RecordSinkSettings(_SinkSettings):
    """Every published message into a recording (docs/recording.md), written when the run ends."""

    type: Literal["record"] = "record"
    path: Path | None = None  # None: kept in memory only (run_stream.py --annotate reads it)
    queue: int = Field(4096, ge=1)
    process: bool = False  # appending to a list costs nothing; in-process, the recording stays readable


class VmcSinkSettings(_SinkSettings):
    """VMC over OSC/UDP (docs/outputs.md): to VSeeFace, VirtualMotionCapture, Warudo, EVMC4U, VMC4B."""

    type: Literal["vmc"] = "vmc"
    host: str = "127.0.0.1"
    port: int = Field(39539, ge=1, le=65535)
    bundle: bool = True  # one OSC bundle per frame (else one datagram per message)


class Ros2SinkSettings(_SinkSettings):
    """ROS 2 over DDS (cyclonedds), as rmw_cyclonedds_cpp speaks it."""

    type: Literal["ros2"] = "ros2"
    domain_id: int | None = Field(None, ge=0, le=232)  # None: $ROS_DOMAIN_ID, else 0
    topic_prefix: str = "/hotstream"
    frame_id: str = "camera"


class McapSinkSettings(_SinkSettings):
    """A ROS 2 bag (MCAP) with the same messages as the ros2 sink."""

    type: Literal["mcap"] = "mcap"
    path: Path
    topic_prefix: str = "/hotstream"
    frame_id: str = "camera"
    queue: int = Field(1024, ge=1)


class FoxgloveSinkSettings(_SinkSettings):
    """The Foxglove live WebSocket: the skeleton as a 3D scene, and the 2D keypoints."""

    type: Literal["foxglove"] = "foxglove"
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    frame_id: str = "camera"


SINK_SETTINGS = (RecordSinkSettings, VmcSinkSettings, Ros2SinkSettings, McapSinkSettings, FoxgloveSinkSettings)
SinkSettings = Annotated[Union[SINK_SETTINGS], Field(discriminator="type")]


class Settings(_Section):
    source: SourceSettings = SourceSettings()
    pose2d: Pose2DSettings = Pose2DSettings()
    lifter: LifterSettings = LifterSettings()
    root: RootSettings = RootSettings()
    filter: FilterSettings = FilterSettings()
    publisher: PublisherSettings = PublisherSettings()
    pipeline: PipelineSettings = PipelineSettings()
    sinks: list[SinkSettings] = []  # outputs beside ZeroMQ (stream/sinks/), off by default


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"unknown setting {where!r}"
    if first["type"] == "value_error":  # our own validators: the message says it all
        return f"setting {where!r}: {first['ctx']['error']}"
    return f"setting {where!r}: {first['msg']} (got {first.get('input')!r})"


def load_settings(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                  values: dict[str, Any] | None = None, extra_sinks: list[dict] = ()) -> Settings:
    """Settings from a YAML file (or the defaults when ``path`` is None), then ``values``
    (``{"source.uri": "clip.mp4"}``, already typed), then ``key=value`` text overrides; then
    ``extra_sinks`` appended to the file's ``sinks``.

    Raises ValueError with a one-line message naming the bad setting, FileNotFoundError when
    the file does not exist.
    """
    tree: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"config file {path} is not valid YAML: {err}".replace("\n", " ")) from None
        if not isinstance(tree, dict):
            raise ValueError(f"config file {path} must hold a mapping of sections")
    for key, value in (values or {}).items():
        set_path(tree, key.split("."), value)
    for text in overrides:
        set_path(tree, *parse_override(text))
    if extra_sinks:
        tree["sinks"] = list(tree.get("sinks") or []) + list(extra_sinks)
    try:
        return Settings.model_validate(tree)
    except ValidationError as err:
        raise ValueError(_describe(err)) from None
