"""Which rows of a file of poses belong to one stream: a recording can interleave several."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def rows_of_stream(path: str | Path, stream_ids: np.ndarray, stream_id: str | None) -> np.ndarray:
    """Indices of the rows of ``stream_id`` in ``stream_ids`` (the file's per-row stream ids); with
    ``stream_id`` None the file must hold one stream. A ValueError names the streams otherwise."""
    streams = sorted(set(stream_ids.tolist()))
    if stream_id is None:
        if len(streams) > 1:
            raise ValueError(f"{path} holds streams {streams}; choose one (--stream)")
        return np.arange(len(stream_ids))
    rows = np.flatnonzero(stream_ids == stream_id)
    if not len(rows):
        raise ValueError(f"{path} has no stream {stream_id!r} (streams: {streams})")
    return rows
