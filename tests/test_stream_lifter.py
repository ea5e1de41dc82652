"""Lifter stage: which frame each output belongs to, the no-person policy, root position, smoothing.

The engine here is a stand-in with the engines.runtime interface that returns the target frame's
2D input as its "3D" output, so the tests can see exactly which frame was lifted. The real engine
runs in tests/test_stream_e2e.py.
"""
import numpy as np
import pytest

from engines.skeleton import NUM_JOINTS
from stream.lifter import LifterStage
from stream.pose2d import Pose2D
from stream.record import FrameRecord
from stream.root import estimate_root, focal_from_fov
from stream.smoothing import PoseSmoother


class EchoEngine:
    backend = "echo"

    def __init__(self, window=9, lookahead=0):
        self.window, self.lookahead = window, lookahead

    def describe(self):
        return {"model": "echo", "T": self.window, "lookahead": self.lookahead, "backend": self.backend}

    def run(self, windows):
        assert windows.shape[1:] == (self.window, NUM_JOINTS, 2) and windows.dtype == np.float32
        target = windows[:, self.window - 1 - self.lookahead]
        pose = np.concatenate([target, np.ones_like(target[..., :1])], axis=-1)
        pose[:, 0] = (-1, 0, 0.5)  # pelvis where normalised x = 0 would be, and off the origin
        return pose


def frame(seq, person=0, x=None, source="cam"):
    """A record whose 2D pose encodes ``x`` (default: seq) in every landmark."""
    rec = FrameRecord(seq, source, seq * 33_000_000, (640, 480), t_s=seq * 0.033)
    if person is not None:
        value = float(seq if x is None else x)
        rec.people = [Pose2D(np.full((33, 2), value, np.float32), np.ones(33, np.float32),
                             np.zeros((33, 3), np.float32), (640, 480), person)]
    return rec


def lifted_x(rec):
    """The pixel value ``x`` of the frame the output came from (the echo engine puts it in joint 1,
    offset so it survives root alignment)."""
    return round(float(rec.pose3d[1, 0] * 640 / 2), 3)


def run(stage, records):
    out = []
    for rec in records:
        out += stage.process([rec])
    return out + stage.finish()


@pytest.mark.parametrize("lookahead", [0, 3])
def test_every_frame_with_a_person_is_lifted_once_in_order(lookahead):
    stage = LifterStage(EchoEngine(lookahead=lookahead), root=False)
    first = stage.process([frame(0)])
    assert len(first) == (1 if lookahead == 0 else 0)  # a lookahead delays the output
    out = first + run(stage, [frame(i) for i in range(1, 12)])
    assert [r.seq for r in out] == list(range(12))
    assert [lifted_x(r) for r in out] == list(range(12))  # each output is its own frame's pose
    assert all(r.valid for r in out)


def test_missing_person_is_held_then_dropped():
    stage = LifterStage(EchoEngine(), hold_frames=2, root=False)
    records = [frame(0), frame(1), frame(2, person=None), frame(3, person=None), frame(4, person=None), frame(5)]
    out = run(stage, records)
    assert [(r.seq, r.valid) for r in out] == [(0, True), (1, True), (2, False), (3, False), (5, True)]
    assert lifted_x(out[2]) == 1 and out[2].pose2d is out[1].pose2d  # the held pose is the last seen
    assert stage.no_person == 3 and stage.held == 2


def test_a_new_person_restarts_the_window():
    stage = LifterStage(EchoEngine(window=4, lookahead=1), root=False)
    out = run(stage, [frame(0), frame(1), frame(2, person=1, x=50), frame(3, person=1, x=51)])
    assert [(r.seq, lifted_x(r)) for r in out] == [(0, 0), (1, 1), (2, 50), (3, 51)]


def people_frame(seq, **x_by_person):
    """A frame with several people: person id -> the value their landmarks encode."""
    rec = frame(seq, person=None)
    rec.people = [frame(seq, person=int(person), x=x).people[0] for person, x in x_by_person.items()]
    return rec


def test_each_person_has_a_window_of_their_own_and_all_are_lifted_in_one_call():
    engine = EchoEngine(window=4, lookahead=1)
    calls = []
    run_engine = engine.run
    engine.run = lambda windows: calls.append(len(windows)) or run_engine(windows)
    stage = LifterStage(engine, root=False, max_people=2)
    out = []
    for seq in range(5):
        out += stage.process([people_frame(seq, **{"3": 100 + seq, "7": 200 + seq})])
    out += stage.finish()
    assert calls == [2, 2, 2, 2, 2]  # from the second frame on: both people's windows in one call
    assert sorted((r.pose2d.person_id, r.seq, lifted_x(r)) for r in out) == \
        [(3, k, 100 + k) for k in range(5)] + [(7, k, 200 + k) for k in range(5)]
    assert stage.person_frames == 10 and stage.frames_with_pose == 5


def test_one_of_two_missing_is_held_while_the_other_goes_on_then_let_go():
    stage = LifterStage(EchoEngine(window=3), root=False, hold_frames=2, max_people=2)
    records = [people_frame(0, **{"0": 10, "1": 50}), people_frame(1, **{"0": 11, "1": 51})]
    records += [people_frame(k, **{"1": 50 + k}) for k in range(2, 6)]  # person 0 gone
    out = run(stage, records)
    of = {p: [(r.seq, r.valid, lifted_x(r)) for r in out if r.pose2d.person_id == p] for p in (0, 1)}
    assert of[0] == [(0, True, 10), (1, True, 11), (2, False, 11), (3, False, 11)]  # held twice, then let go
    assert of[1] == [(k, True, 50 + k) for k in range(6)]
    assert stage.held == 2 and stage.no_person == 0 and 0 not in stage.people


def test_newcomers_take_the_places_of_those_unseen_longest():
    stage = LifterStage(EchoEngine(window=3), root=False, hold_frames=5, max_people=2)
    out = run(stage, [people_frame(0, **{"0": 10, "1": 20}), people_frame(1, **{"1": 21}),
                      people_frame(2, **{"2": 30, "3": 40})])
    assert sorted({r.pose2d.person_id for r in out if r.seq == 2}) == [2, 3]  # 0 and 1 let go, not held
    assert len(stage.people) == 0 and stage.held == 1  # person 0 was held once, in frame 1


def test_a_live_lifter_keeps_the_newest_windows_of_each_person():
    stage = LifterStage(EchoEngine(window=5), root=False, max_batch=1, max_people=2)
    out = stage.process([people_frame(k, **{"0": k, "1": 100 + k}) for k in range(4)])
    assert sorted((r.pose2d.person_id, r.seq) for r in out) == [(0, 3), (1, 3)] and stage.skipped == 6


def test_a_backlog_is_lifted_in_one_batch_with_the_same_result():
    records = [frame(i) for i in range(1, 8)]
    engine = EchoEngine(lookahead=2)
    calls = []
    run_engine = engine.run
    engine.run = lambda windows: calls.append(len(windows)) or run_engine(windows)
    stage = LifterStage(engine, root=False)
    out = stage.process(records) + stage.finish()
    assert calls == [5, 2]  # the five completed windows at once, then the two end-padded ones
    assert [(r.seq, lifted_x(r)) for r in out] == [(i, i) for i in range(1, 8)]


def test_a_live_lifter_lifts_only_the_newest_windows_of_its_backlog():
    stage = LifterStage(EchoEngine(window=5), root=False, max_batch=1)
    assert [r.seq for r in stage.process([frame(i) for i in range(4)])] == [3]
    assert stage.skipped == 3
    out = stage.process([frame(4)])
    assert [(r.seq, lifted_x(r)) for r in out] == [(4, 4)]
    pixels = (stage.people[0].ring.window()[:, 1, 0] + 1) * 640 / 2
    np.testing.assert_allclose(pixels, [0, 1, 2, 3, 4], atol=1e-3)  # every pose entered the window


def test_a_live_lifter_with_lookahead_lifts_every_frame_before_each_gap_and_the_end():
    """The windows a restart flushes stand for frames no newer window covers: none is skipped."""
    stage = LifterStage(EchoEngine(window=9, lookahead=5), root=False, max_batch=1, hold_frames=1)
    records = [frame(i) for i in range(8)]
    records += [frame(8, person=None), frame(9, person=None)]   # held once, then nobody: a restart
    records += [frame(i, person=1) for i in range(10, 18)]
    for rec in records[-3:]:
        rec.epoch = 1                                             # a gap in the source: a restart
    out = run(stage, records)
    assert [r.seq for r in out] == [*range(9), *range(10, 18)]
    assert stage.skipped == 0 and stage.epoch_restarts == 1


def test_smoothing_never_crosses_a_restart():
    stage = LifterStage(EchoEngine(window=3), root=False, smoother=PoseSmoother(30.0, min_cutoff=0.01))
    out = stage.process([frame(0), frame(1), frame(2, person=1, x=300)])
    assert lifted_x(out[1]) < 1  # smoothed towards the previous frame...
    assert lifted_x(out[2]) == 300  # ...but a new person starts from its own pose


def test_outputs_are_root_aligned():
    out = run(LifterStage(EchoEngine(), root=False), [frame(0), frame(1)])
    assert all((r.pose3d[0] == 0).all() for r in out)


def test_lifter_stamps_its_stages():
    stage = LifterStage(EchoEngine(lookahead=1), root=True, smoother=PoseSmoother(30.0))
    out = run(stage, [frame(i) for i in range(3)])
    assert list(out[0].stamps) == ["lookahead", "lift", "root", "filter"]


def synthetic_pose(seed=0):
    rng = np.random.default_rng(seed)
    pose = rng.uniform(-0.4, 0.4, (17, 3)).astype(np.float32)
    pose[:, 1] *= 2.2  # a tall person
    return pose - pose[0]


def project(points, focal, size):
    return np.stack([focal * points[:, 0] / points[:, 2] + size[0] / 2,
                     focal * points[:, 1] / points[:, 2] + size[1] / 2], axis=-1)


@pytest.mark.parametrize("translation", [(0.0, 0.0, 3.0), (0.8, -0.3, 5.5), (-1.5, 0.4, 2.2)])
def test_root_is_recovered_from_an_exact_projection(translation):
    pose, size = synthetic_pose(), (1280, 720)
    focal = focal_from_fov(size[0], 60.0)
    t = np.array(translation, np.float32)
    found = estimate_root(pose, project(pose + t, focal, size), focal, size)
    np.testing.assert_allclose(found, t, atol=1e-3)


def test_root_ignores_unconfident_joints_and_rejects_impossible_fits():
    pose, size, focal = synthetic_pose(1), (640, 480), 500.0
    t = np.array([0.2, 0.1, 4.0], np.float32)
    uv = project(pose + t, focal, size)
    uv[3] += 300  # a wild outlier...
    weights = np.ones(17, np.float32)
    weights[3] = 0  # ...that the 2D stage was not sure about
    np.testing.assert_allclose(estimate_root(pose, uv, focal, size, weights), t, atol=1e-3)
    # The 2D of the point-reflected pose is fitted exactly only by a pose behind the camera.
    assert estimate_root(pose, project(-pose + t, focal, size), focal, size) is None


def test_focal_from_fov():
    assert focal_from_fov(640, 90.0) == pytest.approx(320.0)
    assert focal_from_fov(1280, 60.0) == pytest.approx(640 / np.tan(np.radians(30)))


def test_one_euro_smoothing_removes_jitter_and_a_fresh_smoother_has_no_memory():
    rng = np.random.default_rng(0)
    truth = np.tile(np.linspace(0, 1, 17)[:, None], (1, 3)).astype(np.float32)
    noisy = truth + rng.normal(0, 0.02, (120, 17, 3)).astype(np.float32)
    smoother = PoseSmoother(30.0, min_cutoff=1.0, beta=0.0)
    out = np.stack([smoother("pose3d", p, i / 30) for i, p in enumerate(noisy)])
    assert np.abs(out[30:] - truth).mean() < 0.5 * np.abs(noisy[30:] - truth).mean()
    fresh = smoother.fresh()
    assert fresh.params == smoother.params
    np.testing.assert_array_equal(fresh("pose3d", noisy[0] + 5, 10.0), noisy[0] + 5)  # no memory of the other


def test_a_held_frame_repeats_the_last_pose_exactly_with_the_real_engine():
    """The wire format says a held frame repeats the last pose: its 3D and root are not lifted again
    (a window ending in repeated 2D gives a different 3D pose: up to 25 mm on the sample clip)."""
    from engines.runtime import load_engine
    from synthetic_motion import FOCAL_PX, IMAGE_SIZE, landmarks_from_h36m, project, walking

    poses, roots = walking(30)
    pixels = project(poses, roots, FOCAL_PX, IMAGE_SIZE)

    def records():
        for seq in range(30):
            rec = FrameRecord(seq, "cam", seq * 33_000_000, IMAGE_SIZE)
            if not 20 <= seq < 23:  # nobody seen in frames 20-22
                rec.people = [Pose2D(landmarks_from_h36m(pixels[seq]), np.ones(33, np.float32),
                                     np.zeros((33, 3), np.float32), IMAGE_SIZE)]
            yield rec

    for lookahead in (0, 3):
        engine = load_engine(None, backend="onnxruntime-cpu", lookahead=lookahead, threads=1)
        out = run(LifterStage(engine, hold_frames=5, focal_px=FOCAL_PX), records())
        by_seq = {r.seq: r for r in out}
        assert sorted(by_seq) == list(range(30))
        for seq in (20, 21, 22):
            held = by_seq[seq]
            assert not held.valid and not held.confident
            np.testing.assert_array_equal(held.pose3d, by_seq[19].pose3d)
            np.testing.assert_array_equal(held.root, by_seq[19].root)
        assert not np.array_equal(by_seq[23].pose3d, by_seq[19].pose3d)  # seen again: lifted again
