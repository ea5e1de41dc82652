"""The recording sink: every published message kept in-process and written as a recording
(docs/recording.md) when the run ends, SIGINT and SIGTERM included (the pipeline drains, then
closes its sinks). No socket, no subscriber to wait for."""
from __future__ import annotations

import logging

from stream.recorder import Recorder
from stream.sinks.base import Output
from stream.wire import MetaFrame

log = logging.getLogger(__name__)


class RecordingSink:
    name = "record"

    def __init__(self, settings, stream_id: str) -> None:
        self.path = settings.path
        self.recorder = Recorder()
        self.saved = None

    def describe(self, meta: MetaFrame) -> None:
        self.recorder.keep(meta, meta.description.get("t_publish_ns"))

    def send(self, out: Output) -> None:
        self.recorder.keep(out.pose, out.pose.t_publish_ns)

    def close(self) -> None:
        if self.path is not None:
            self.saved = self.recorder.save(self.path)
            log.info("wrote %s (%d messages)", self.saved, len(self.recorder))
