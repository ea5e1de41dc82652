"""The live pipeline: source -> MediaPipe 2D -> H36M ring buffer -> lifter -> ZeroMQ publisher.

Each stage is one module; `stream.pipeline` wires them together with threads and bounded queues,
and `stream.client` is the consumer side. `stream` imports `engines`, never the reverse.
"""
