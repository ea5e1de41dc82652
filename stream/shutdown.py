"""SIGTERM stops a tool as Ctrl-C does, so the file it writes is finished either way.

``timeout``, ``kill`` and systemd send SIGTERM, whose default action ends the process at once: a
recording never saved, an mp4 without its index. With :func:`stop_on_sigterm` it raises
KeyboardInterrupt in the main thread instead, which the tools already handle by finishing up.
(``run_stream.py``'s pipeline handles both signals itself, to drain its frames in flight.)
"""
from __future__ import annotations

import signal


def stop_on_sigterm() -> None:
    """Make SIGTERM raise KeyboardInterrupt, as SIGINT does (call from the main thread)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
