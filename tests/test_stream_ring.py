"""Ring buffer: time order, start/end padding, no-person hold policy, person/source changes."""
import numpy as np
import pytest

from stream.ring import PoseRing


def pose(value: float) -> np.ndarray:
    return np.full((17, 2), value, np.float32)


class Collector:
    """Records every emitted (window, item, valid); copies the window because it is a view."""

    def __init__(self):
        self.windows, self.items, self.valid = [], [], []

    def __call__(self, window, item, valid):
        self.windows.append(window.copy())
        self.items.append(item)
        self.valid.append(valid)

    def firsts(self, i):
        """The per-frame value of window i (every joint of a test pose holds the same value)."""
        return self.windows[i][:, 0, 0].tolist()


def test_window_is_in_time_order_and_padded_at_the_start():
    ring, out = PoseRing(window=4), Collector()
    for t in range(6):
        ring.push(pose(t), item=t, key="a", emit=out)
    assert out.items == [0, 1, 2, 3, 4, 5]
    assert out.firsts(0) == [0, 0, 0, 0]          # edge replication of the first pose
    assert out.firsts(2) == [0, 0, 1, 2]
    assert out.firsts(5) == [2, 3, 4, 5]          # oldest first after wrapping around
    assert all(out.valid)


def test_window_is_a_view_of_preallocated_storage():
    ring = PoseRing(window=5)
    ring.push(pose(1), 1, "a", emit=lambda *a: None)
    w = ring.window()
    assert w.shape == (5, 17, 2) and w.base is not None and w.flags["C_CONTIGUOUS"]


def test_lookahead_targets_the_frame_before_the_newest_and_flush_pads_the_end():
    ring, out = PoseRing(window=5, lookahead=2), Collector()
    for t in range(4):
        ring.push(pose(t), t, "a", out)
    assert out.items == [0, 1]                    # frames 2 and 3 wait for their future
    assert out.firsts(1) == [0, 0, 1, 2, 3]       # target (index T-1-lookahead) holds frame 1
    ring.flush(out)
    assert out.items == [0, 1, 2, 3]
    assert out.firsts(3) == [1, 2, 3, 3, 3]       # end padded by repeating the newest pose
    assert ring.count == 0


def test_flush_of_a_stream_shorter_than_the_lookahead():
    ring, out = PoseRing(window=6, lookahead=3), Collector()
    ring.push(pose(7), 7, "a", out)
    ring.push(pose(8), 8, "a", out)
    assert out.items == []
    ring.flush(out)
    assert out.items == [7, 8]
    assert out.firsts(0)[6 - 1 - 3] == 7 and out.firsts(1)[6 - 1 - 3] == 8


def test_no_person_holds_the_last_pose_not_valid_then_resets():
    ring, out = PoseRing(window=4, hold_frames=2), Collector()
    ring.push(pose(1), "p1", "a", out)
    assert ring.push_missing("m1", out) and ring.push_missing("m2", out)
    assert out.items == ["p1", "m1", "m2"] and out.valid == [True, False, False]
    assert out.firsts(2) == [1, 1, 1, 1]          # the held pose is the last one seen
    assert not ring.push_missing("m3", out)       # third frame in a row: over the limit
    assert ring.count == 0 and out.items == ["p1", "m1", "m2"]
    assert not ring.push_missing("m4", out)       # nothing to hold after a reset
    ring.push(pose(5), "p2", "a", out)
    assert out.firsts(3) == [5, 5, 5, 5]          # a new window: nothing of the old one


def test_a_person_back_within_the_hold_limit_continues_the_window():
    ring, out = PoseRing(window=4, hold_frames=2), Collector()
    ring.push(pose(1), 1, "a", out)
    ring.push_missing(None, out)
    ring.push(pose(3), 3, "a", out)
    assert out.firsts(2) == [1, 1, 1, 3] and ring.missing == 0


@pytest.mark.parametrize("new_key", [("cam0", 1), ("cam1", 0)])
def test_a_new_person_or_source_never_shares_a_window(new_key):
    ring, out = PoseRing(window=4, lookahead=1), Collector()
    for t in range(3):
        ring.push(pose(t), t, ("cam0", 0), out)
    ring.push(pose(9), 9, new_key, out)
    assert out.items == [0, 1, 2]                 # frame 2 flushed with end padding first
    assert out.firsts(2) == [0, 1, 2, 2]
    ring.push(pose(10), 10, new_key, out)
    assert out.items[-1] == 9 and out.firsts(3) == [9, 9, 9, 10]
    assert ring.key == new_key


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="lookahead"):
        PoseRing(window=3, lookahead=3)
    with pytest.raises(ValueError, match="window"):
        PoseRing(window=0)
