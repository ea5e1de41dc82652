"""Frame-token cache: run the per-frame half of the network once per frame, not once per window.

The first half of the network sees one frame at a time (e.g. HoT's ``embed_frames``), so in a
live stream, where each window is the previous one shifted by a frame, all but one frame's tokens
are already known. Tokens are keyed by the frame's exact 2D values (float32 bytes), so the cache
is right whatever produced the windows: sliding, padded by repeating a frame, restarted after a
gap, or a batch of overlapping windows (each distinct frame is encoded once). It keeps only the
frames of the latest call, which is all a sliding window needs, so its memory is bounded by one
batch of windows.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


class FrameTokenCache:
    def __init__(self, encode: Callable[[np.ndarray], np.ndarray]):
        """``encode``: float32 frames (N, J, 2) -> frame tokens (N, J, C)."""
        self.encode = encode
        self._tokens: dict[bytes, np.ndarray] = {}
        self.frames_encoded = 0
        self.frames_reused = 0

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """float32 windows (B, T, J, 2) -> their frame tokens (B, T, J, C)."""
        b, t, j, _ = windows.shape
        keys = [frame.tobytes() for frame in windows.reshape(b * t, j * 2)]
        known = self._tokens
        new = list(dict.fromkeys(k for k in keys if k not in known))
        if new:
            frames = np.frombuffer(bytearray(b"".join(new)), dtype=np.float32).reshape(len(new), j, 2)  # writable
            known.update(zip(new, self.encode(frames)))
        tokens = np.stack([known[k] for k in keys])
        self._tokens = {k: known[k] for k in keys}
        self.frames_encoded += len(new)
        self.frames_reused += len(keys) - len(new)
        return tokens.reshape(b, t, j, -1)
