"""Outputs beside the ZeroMQ stream, one file each (docs/outputs.md).

A sink is ``send(out)``, ``close()`` and, optionally, ``describe(meta)`` (:mod:`stream.sinks.base`,
which also runs each one behind a bounded queue; :mod:`stream.sinks.process` in a child process). Adding one is a file here, a settings
class in :mod:`stream.config` and a line in :data:`SINKS`. A sink's dependency is an optional
extra of the package; when it is missing, building the sink fails in one line naming the extra.
"""
from __future__ import annotations

import importlib

from stream.sinks.base import Output, Sink, SinkRunner

# settings ``type`` -> (module, class, the pyproject extra that installs what it imports)
SINKS = {
    "record": ("stream.sinks.recording", "RecordingSink", None),
    "vmc": ("stream.sinks.vmc", "VmcSink", "vmc"),
    "ros2": ("stream.sinks.ros2", "Ros2Sink", "ros2"),
    "mcap": ("stream.sinks.mcap_bag", "McapSink", "mcap"),
    "foxglove": ("stream.sinks.foxglove_live", "FoxgloveSink", "foxglove"),
}


def create_sink(settings, stream_id: str) -> Sink:
    """The sink ``settings`` (one of :data:`stream.config.SinkSettings`) describe, not yet running."""
    module_name, class_name, extra = SINKS[settings.type]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if extra is None or (err.name or "").startswith("stream"):
            raise
        raise RuntimeError(f"the {settings.type} sink needs the {err.name!r} package: "
                           f"pip install 'hotstream[{extra}]'") from None
    return getattr(module, class_name)(settings, stream_id)


def start_sinks(settings: list, stream_id: str) -> list:
    """Every configured sink built and running, each in a thread or (``process: true``) a child
    process of its own; if one cannot be built, the ones before it are closed again and the error
    is raised."""
    from stream.sinks.process import ProcessSinkRunner

    runners: list = []
    try:
        for s in settings:
            runners.append(ProcessSinkRunner(s, stream_id, s.queue) if s.process
                           else SinkRunner(create_sink(s, stream_id), s.queue))
    except BaseException:
        for runner in runners:
            runner.close()
        raise
    return runners


__all__ = ["Output", "SINKS", "Sink", "SinkRunner", "create_sink", "start_sinks"]
