"""ROS 2 over DDS without a bridge: cyclonedds publishing what ``rclpy`` on rmw_cyclonedds_cpp
would, so a ROS 2 node (RViz included) receives it as from any ROS 2 publisher.

The messages and topics are :mod:`stream.sinks.ros_messages`'; on the wire a topic ``/a/b`` is the
DDS topic ``rt/a/b`` and a type ``pkg/Type`` is ``pkg::msg::dds_::Type_``, as rmw_cyclonedds_cpp
names them. QoS: ROS 2's default for topics, reliable, volatile, keep last 10. The domain is
``domain_id``, else ``$ROS_DOMAIN_ID``, else 0.
"""
from __future__ import annotations

import dataclasses
import os
import types as pytypes
from functools import cache

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as idl
from cyclonedds.pub import DataWriter
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from stream.sinks import ros_messages
from stream.sinks.base import Output

QOS = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.Durability.Volatile, Policy.History.KeepLast(10))
_PRIMITIVES = {"bool": bool, "int8": idl.int8, "uint8": idl.uint8, "int16": idl.int16, "uint16": idl.uint16,
               "int32": idl.int32, "uint32": idl.uint32, "int64": idl.int64, "uint64": idl.uint64,
               "float32": idl.float32, "float64": idl.float64, "string": str}


def dds_type_name(type_name: str) -> str:
    """``pkg/Type`` -> ``pkg::msg::dds_::Type_``."""
    package, name = type_name.split("/")
    return f"{package}::msg::dds_::{name}_"


@cache
def idl_type(type_name: str) -> type:
    """The cyclonedds type of a ROS 2 message, built from its definition in :data:`ros_messages.MSGDEFS`."""
    annotations = {}
    for kind, name, sequence in ros_messages.fields(type_name):
        element = _PRIMITIVES[kind] if kind in ros_messages.PRIMITIVES else idl_type(kind)
        annotations[name] = idl.sequence[element] if sequence else element
    cls = pytypes.new_class(type_name.split("/")[1], (IdlStruct,), {"typename": dds_type_name(type_name)},
                            lambda ns: ns.update({"__annotations__": annotations, "__module__": __name__}))
    return dataclasses.dataclass(cls)


def to_idl(type_name: str, value: dict):
    """A message dict as an instance of :func:`idl_type`."""
    values = {}
    for kind, name, sequence in ros_messages.fields(type_name):
        item = value[name]
        if kind in ros_messages.PRIMITIVES:
            values[name] = list(item) if sequence else item
        else:
            values[name] = [to_idl(kind, v) for v in item] if sequence else to_idl(kind, item)
    return idl_type(type_name)(**values)


def domain_id(configured: int | None) -> int:
    return configured if configured is not None else int(os.environ.get("ROS_DOMAIN_ID", "0"))


class Ros2Sink:
    name = "ros2"

    def __init__(self, settings, stream_id: str) -> None:
        self.frame_id = settings.frame_id
        self.participant = DomainParticipant(domain_id(settings.domain_id))
        self.writers = {}
        for suffix, type_name in ros_messages.TOPICS.items():
            topic = Topic(self.participant, f"rt{settings.topic_prefix.rstrip('/')}/{suffix}", idl_type(type_name), qos=QOS)
            self.writers[suffix] = (type_name, DataWriter(self.participant, topic, qos=QOS))

    def send(self, out: Output) -> None:
        if not out.pose.valid:
            return
        for suffix, message in ros_messages.messages(out.pose, self.frame_id).items():
            type_name, writer = self.writers[suffix]
            writer.write(to_idl(type_name, message))

    def close(self) -> None:
        self.writers.clear()
        self.participant = None  # cyclonedds deletes the entities with their last reference
