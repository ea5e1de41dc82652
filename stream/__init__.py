"""The live pipeline: source -> MediaPipe 2D -> H36M ring buffer -> lifter -> ZeroMQ publisher.

Each stage is one module; `stream.build` makes them from the settings, `stream.pipeline` runs them
in threads joined by bounded queues, and `stream.client` is the consumer side. `stream` imports
`engines`, never the reverse.
"""
