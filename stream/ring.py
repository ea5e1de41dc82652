"""Sliding window of the last T poses of one person from one source.

Storage is preallocated: each pose is written twice, at slot ``i`` and ``i + T`` of a (2T, 17, 2)
array, so the window in time order is always the contiguous slice ``buf[head:head + T]`` - a
zero-copy view, and a push is O(1).

Policies (all explicit, all counted by the caller):

* **Start padding** - the first pose after a reset fills the whole window (edge replication),
  so a target can be lifted from the first frame on.
* **End padding** - :meth:`flush` lifts the last ``lookahead`` targets that are still waiting for
  future frames by repeating the newest pose, then resets.
* **No person** - :meth:`push_missing` holds the last pose for up to ``hold_frames`` frames,
  marked not valid, then flushes and resets.
* **One person, one source** - a pose whose key (source id, person id) differs from the window's
  flushes and resets first, so a window never mixes two people or two sources.

Ready targets are handed to an ``emit(window, item, valid)`` callback; ``window`` is a view that
is only valid during the call.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

import numpy as np

from engines.skeleton import NUM_JOINTS

Emit = Callable[[np.ndarray, Any, bool], None]


class PoseRing:
    def __init__(self, window: int, lookahead: int = 0, hold_frames: int = 5) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0 <= lookahead < window:
            raise ValueError(f"lookahead must be in [0, {window - 1}] for a window of {window}, got {lookahead}")
        if hold_frames < 0:
            raise ValueError(f"hold_frames must be >= 0, got {hold_frames}")
        self.size, self.lookahead, self.hold_frames = window, lookahead, hold_frames
        self._buf = np.zeros((2 * window, NUM_JOINTS, 2), dtype=np.float32)
        self._items: list[Any] = [None] * window
        self._valid = [False] * window
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next pose starts a new window."""
        self._head = 0        # slot the next pose goes to; also the oldest slot of the window
        self.count = 0        # poses pushed since the reset (held ones included)
        self.missing = 0      # consecutive frames without a person
        self.key: Hashable | None = None
        self._items = [None] * self.size
        self._valid = [False] * self.size

    def window(self) -> np.ndarray:
        """(T, 17, 2) view of the window, oldest first."""
        return self._buf[self._head:self._head + self.size]

    def push(self, uv: np.ndarray, item: Any, key: Hashable, emit: Emit) -> None:
        """Add the pose of a frame with a person; emits the target if it is now complete."""
        if self.count and key != self.key:
            self.flush(emit)
        if not self.count:
            self._buf[:] = uv  # start padding
            self.key = key
        self.missing = 0
        self._write(uv, item, valid=True, emit=emit)

    def push_missing(self, item: Any, emit: Emit) -> bool:
        """A frame without a person: hold the last pose (not valid) or, past the limit, reset.

        Returns whether the frame was held.
        """
        if not self.count:
            return False
        if self.missing >= self.hold_frames:
            self.flush(emit)
            return False
        self.missing += 1
        self._write(self._newest().copy(), item, valid=False, emit=emit)
        return True

    def flush(self, emit: Emit) -> None:
        """Emit the targets still waiting for future frames (end padding), then reset."""
        if self.count:
            for _ in range(self.lookahead):
                self._write(self._newest().copy(), None, valid=False, emit=emit)
        self.reset()

    def _newest(self) -> np.ndarray:
        return self._buf[(self._head - 1) % self.size]

    def _write(self, uv: np.ndarray, item: Any, valid: bool, emit: Emit) -> None:
        slot = self._head
        self._buf[slot] = uv
        self._buf[slot + self.size] = uv
        self._items[slot], self._valid[slot] = item, valid
        self._head = (slot + 1) % self.size
        self.count += 1
        if self.count > self.lookahead:
            target = (slot - self.lookahead) % self.size
            emit(self.window(), self._items[target], self._valid[target])
