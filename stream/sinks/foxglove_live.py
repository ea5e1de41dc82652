"""Foxglove live (foxglove-sdk's WebSocket server): open Foxglove, connect to
``ws://HOST:PORT``, and the person moves.

Channels (protobuf, Foxglove's own schemas), logged at the capture time:

* ``/hotstream/skeleton``: ``foxglove.SceneUpdate``, one entity ``skeleton/person_<id>`` per
  person in the configured ``frame_id`` (the camera frame: x right, y down, z forward): the 16
  bones as a line list and the 17 joints as spheres; for the 3D panel.
* ``/hotstream/keypoints``: ``foxglove.ImageAnnotations``: the 17 2D joints (pixels) as points and
  the bones as a line list, one message per person; for an Image panel over the same video.

The server has a context of its own, so two pipelines (or a test beside one) never share channels.
A port already in use is a one-line error when the pipeline is built.
"""
from __future__ import annotations

import foxglove
from foxglove.channels import ImageAnnotationsChannel, SceneUpdateChannel
from foxglove.messages import (Color, ImageAnnotations, LinePrimitive, LinePrimitiveLineType, Point2, Point3,
                               PointsAnnotation, PointsAnnotationType, Pose, Quaternion, SceneEntity, SceneUpdate,
                               SpherePrimitive, Timestamp, Vector3)

from engines.skeleton import BONES
from stream.sinks import ros_messages
from stream.sinks.base import Output

BONE_COLOUR, JOINT_COLOUR = Color(r=0.1, g=0.6, b=1.0, a=1.0), Color(r=1.0, g=0.4, b=0.1, a=1.0)
UNTURNED, JOINT_SIZE = Quaternion(x=0.0, y=0.0, z=0.0, w=1.0), Vector3(x=0.04, y=0.04, z=0.04)


class FoxgloveSink:
    name = "foxglove"

    def __init__(self, settings, stream_id: str) -> None:
        self.frame_id = settings.frame_id
        self.context = foxglove.Context()
        try:
            self.server = foxglove.start_server(name=f"hotstream {stream_id}", host=settings.host, port=settings.port,
                                                context=self.context)
        except RuntimeError as err:
            raise ValueError(f"cannot serve Foxglove on {settings.host}:{settings.port}: {err}") from None
        self.scene = SceneUpdateChannel("/hotstream/skeleton", context=self.context)
        self.keypoints = ImageAnnotationsChannel("/hotstream/keypoints", context=self.context)

    @property
    def port(self) -> int:
        return self.server.port

    def send(self, out: Output) -> None:
        pose = out.pose
        if not pose.valid:
            return
        stamp = Timestamp(*divmod(int(pose.t_capture_ns), 1_000_000_000))
        xyz = ros_messages.positions(pose).tolist()
        joints = [Point3(x=x, y=y, z=z) for x, y, z in xyz]
        entity = SceneEntity(
            timestamp=stamp, frame_id=self.frame_id, id=f"skeleton/person_{pose.header.get('person', 0)}",
            lines=[LinePrimitive(type=LinePrimitiveLineType.LineList, thickness=0.02, color=BONE_COLOUR,
                                 points=[joints[j] for bone in BONES for j in bone])],
            spheres=[SpherePrimitive(pose=Pose(position=Vector3(x=x, y=y, z=z), orientation=UNTURNED),
                                     size=JOINT_SIZE, color=JOINT_COLOUR) for x, y, z in xyz])
        self.scene.log(SceneUpdate(entities=[entity]), log_time=pose.t_capture_ns)
        pixels = [Point2(x=float(x), y=float(y)) for x, y in pose.arrays["pose2d"]]
        annotations = ImageAnnotations(points=[
            PointsAnnotation(timestamp=stamp, type=PointsAnnotationType.Points, points=pixels,
                             outline_color=JOINT_COLOUR, thickness=4.0),
            PointsAnnotation(timestamp=stamp, type=PointsAnnotationType.LineList,
                             points=[pixels[j] for bone in BONES for j in bone], outline_color=BONE_COLOUR,
                             thickness=2.0)])
        self.keypoints.log(annotations, log_time=pose.t_capture_ns)

    def close(self) -> None:
        self.server.stop()

