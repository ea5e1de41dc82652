"""A ROS 2 bag as one MCAP file (``mcap`` and ``mcap-ros2-support``): the ros2 sink's messages
(:mod:`stream.sinks.ros_messages`), CDR-encoded with ``ros2msg`` schemas, so ``ros2 bag play``
(rosbag2's MCAP storage) and Foxglove open it. Log time is the publish time; publish time the
capture time. The file is finished (its index and summary written) when the sink closes: at the
end of the run, SIGINT and SIGTERM included. A write that fails (a full disk) is a counted sink
error; the pipeline goes on with its other outputs."""
from __future__ import annotations

from pathlib import Path

from mcap_ros2.writer import Writer

from stream.sinks import ros_messages
from stream.sinks.base import Output


class McapSink:
    name = "mcap"

    def __init__(self, settings, stream_id: str) -> None:
        self.path = Path(settings.path)
        self.frame_id = settings.frame_id
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "wb")
        except OSError as err:
            raise ValueError(f"cannot write the MCAP file {self.path}: {err.strerror or err}") from None
        self.writer = Writer(self.file)
        prefix = settings.topic_prefix.rstrip("/")
        self.channels = {suffix: (f"{prefix}/{suffix}", self.writer.register_msgdef(
            type_name.replace("/", "/msg/"), ros_messages.schema_text(type_name)))
            for suffix, type_name in ros_messages.TOPICS.items()}
        self.sequence = 0

    def send(self, out: Output) -> None:
        pose = out.pose
        if not pose.valid:
            return
        for suffix, message in ros_messages.messages(pose, self.frame_id).items():
            topic, schema = self.channels[suffix]
            self.writer.write_message(topic, schema, message, log_time=pose.t_publish_ns,
                                      publish_time=pose.t_capture_ns, sequence=self.sequence)
        self.sequence += 1

    def close(self) -> None:
        try:
            self.writer.finish()
        finally:
            self.file.close()
