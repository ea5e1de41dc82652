"""The ROS 2 messages a pose becomes, shared by the live DDS sink and the MCAP bag sink.

Types are written here as ROS 2 Humble's ``.msg`` definitions (only fields; constants and
comments left out, as they are not on the wire), the one source of truth: the MCAP sink embeds
them as its schemas (``ros2msg``, dependencies appended as ``rosbag2`` does) and the DDS sink
builds its cyclonedds types from them, named as ``rmw_cyclonedds_cpp`` names them
(``visualization_msgs::msg::dds_::MarkerArray_``). Messages are plain dicts.

Topics under the configured prefix (``/hotstream`` by default), all stamped with the frame's
capture time and the configured ``frame_id`` (a camera optical frame: x right, y down, z forward,
REP 103; positions are the pelvis from the camera plus the root-relative pose, or root-relative
when the root is off):

* ``<prefix>/skeleton``: ``visualization_msgs/msg/MarkerArray``: a ``LINE_LIST`` of the 16 bones
  and a ``SPHERE_LIST`` of the 17 joints (namespace ``hotstream/person_<id>``, ids 0 and 1, so
  RViz keeps one skeleton per person);
* ``<prefix>/joints``: ``geometry_msgs/msg/PoseArray``: the 17 joints in H36M order, orientation
  identity (the joints are points). With several people, one message per person and frame: the
  type has no field for whose it is, so tell people apart on the skeleton topic or the ZeroMQ wire.
"""
from __future__ import annotations

from functools import cache

import numpy as np

from engines.skeleton import BONES
from stream.wire import PoseFrame

MSGDEFS = {
    "builtin_interfaces/Time": "int32 sec\nuint32 nanosec",
    "builtin_interfaces/Duration": "int32 sec\nuint32 nanosec",
    "std_msgs/Header": "builtin_interfaces/Time stamp\nstring frame_id",
    "std_msgs/ColorRGBA": "float32 r\nfloat32 g\nfloat32 b\nfloat32 a",
    "geometry_msgs/Point": "float64 x\nfloat64 y\nfloat64 z",
    "geometry_msgs/Vector3": "float64 x\nfloat64 y\nfloat64 z",
    "geometry_msgs/Quaternion": "float64 x\nfloat64 y\nfloat64 z\nfloat64 w",
    "geometry_msgs/Pose": "Point position\nQuaternion orientation",
    "geometry_msgs/PoseArray": "std_msgs/Header header\nPose[] poses",
    "sensor_msgs/CompressedImage": "std_msgs/Header header\nstring format\nuint8[] data",
    "visualization_msgs/UVCoordinate": "float32 u\nfloat32 v",
    "visualization_msgs/MeshFile": "string filename\nuint8[] data",
    "visualization_msgs/Marker": "\n".join([
        "std_msgs/Header header", "string ns", "int32 id", "int32 type", "int32 action",
        "geometry_msgs/Pose pose", "geometry_msgs/Vector3 scale", "std_msgs/ColorRGBA color",
        "builtin_interfaces/Duration lifetime", "bool frame_locked", "geometry_msgs/Point[] points",
        "std_msgs/ColorRGBA[] colors", "string texture_resource", "sensor_msgs/CompressedImage texture",
        "UVCoordinate[] uv_coordinates", "string text", "string mesh_resource", "MeshFile mesh_file",
        "bool mesh_use_embedded_materials"]),
    "visualization_msgs/MarkerArray": "Marker[] markers",
}
PRIMITIVES = {"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
              "float32", "float64", "string"}
LINE_LIST, SPHERE_LIST, ADD = 5, 7, 0  # visualization_msgs/Marker constants
TOPICS = {"skeleton": "visualization_msgs/MarkerArray", "joints": "geometry_msgs/PoseArray"}


@cache
def fields(type_name: str) -> tuple[tuple[str, str, bool], ...]:
    """(field type as a full name or primitive, field name, is a sequence) of a message type."""
    package = type_name.split("/")[0]
    out = []
    for line in MSGDEFS[type_name].splitlines():
        kind, name = line.split()
        sequence = kind.endswith("[]")
        kind = kind.removesuffix("[]")
        if kind not in PRIMITIVES and "/" not in kind:
            kind = f"{package}/{kind}"
        out.append((kind, name, sequence))
    return tuple(out)


def dependencies(type_name: str) -> list[str]:
    """Every message type ``type_name`` uses, depth first, each once."""
    seen: list[str] = []

    def visit(name: str) -> None:
        for kind, _, _ in fields(name):
            if kind not in PRIMITIVES and kind not in seen:
                seen.append(kind)
                visit(kind)
    visit(type_name)
    return seen


def schema_text(type_name: str) -> str:
    """The ``ros2msg`` schema of a type: its definition, then each dependency's, as rosbag2 writes them."""
    parts = [MSGDEFS[type_name]]
    for dep in dependencies(type_name):
        parts.append("=" * 80 + f"\nMSG: {dep}\n" + MSGDEFS[dep])
    return "\n".join(parts)


def positions(pose: PoseFrame) -> np.ndarray:
    """(17, 3) metres in the camera frame: the root-relative pose placed at the root when there is one."""
    root = pose.arrays.get("root")
    offset = root if root is not None and np.isfinite(root).all() else 0.0
    return np.asarray(pose.pose3d, dtype=np.float64) + offset


def header(pose: PoseFrame, frame_id: str) -> dict:
    sec, nanosec = divmod(int(pose.t_capture_ns), 1_000_000_000)
    return {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id}


def _point(p) -> dict:
    return {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])}


def _marker(pose: PoseFrame, frame_id: str, marker_id: int, kind: int, size: float, colour, points) -> dict:
    return {"header": header(pose, frame_id), "ns": f"hotstream/person_{pose.header.get('person', 0)}", "id": marker_id, "type": kind, "action": ADD,
            "pose": {"position": _point((0, 0, 0)), "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
            "scale": _point((size, size, size)), "color": dict(zip("rgba", colour)),
            "lifetime": {"sec": 0, "nanosec": 200_000_000}, "frame_locked": False,
            "points": [_point(p) for p in points], "colors": [], "texture_resource": "",
            "texture": {"header": header(pose, frame_id), "format": "", "data": b""}, "uv_coordinates": [],
            "text": "", "mesh_resource": "", "mesh_file": {"filename": "", "data": b""},
            "mesh_use_embedded_materials": False}


def skeleton_markers(pose: PoseFrame, frame_id: str) -> dict:
    """``visualization_msgs/MarkerArray``: the bones as a line list, the joints as a sphere list."""
    p = positions(pose)
    bones = [p[j] for bone in BONES for j in bone]
    return {"markers": [_marker(pose, frame_id, 0, LINE_LIST, 0.02, (0.1, 0.6, 1.0, 1.0), bones),
                        _marker(pose, frame_id, 1, SPHERE_LIST, 0.04, (1.0, 0.4, 0.1, 1.0), p)]}


def joint_poses(pose: PoseFrame, frame_id: str) -> dict:
    """``geometry_msgs/PoseArray``: the 17 joints, orientation identity."""
    identity = {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}
    return {"header": header(pose, frame_id),
            "poses": [{"position": _point(q), "orientation": identity} for q in positions(pose)]}


def messages(pose: PoseFrame, frame_id: str) -> dict[str, dict]:
    """Topic suffix -> message, for one valid pose (see :data:`TOPICS`)."""
    return {"skeleton": skeleton_markers(pose, frame_id), "joints": joint_poses(pose, frame_id)}
