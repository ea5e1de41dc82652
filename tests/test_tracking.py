"""People tracking: ids through crossings, occlusions and re-entries, on scripted 2D people
(exact stick figures of chosen builds, with pixel noise), plus the sample clip's two people."""
from pathlib import Path

import numpy as np
import pytest

import tests.synthetic_motion as walker3d
from engines.skeleton import JOINT_INDEX as J
from stream.tracking import FORESHORTENING_CAP, Detection, PeopleTracker, box_iou, build_distance, build_signature

FPS = 30.0
HEIGHT_PX = 200.0
FLOOR_Y = 330.0
# Segment lengths over the height (head + torso + thigh + shin = 1), as build_signature orders them.
ADULT = (0.20, 0.30, 0.25, 0.25, 0.17, 0.15)
LONG_LEGGED = (0.17, 0.27, 0.28, 0.28, 0.18, 0.16)
SMALL_CHILD = (0.30, 0.30, 0.20, 0.20, 0.13, 0.11)


def stick_figure(x: float, build=ADULT, phase: float = 0.0, height: float = HEIGHT_PX, floor_y: float = FLOOR_Y,
                 noise: float = 0.007, rng=None) -> np.ndarray:
    """(17, 2) H36M joints of a person walking in the image plane, feet at (``x``, ``floor_y``);
    legs and arms swing with ``phase``; Gaussian noise of ``noise`` heights on every coordinate."""
    head, torso, thigh, shin, upper_arm, forearm = (height * s for s in build)
    swing = 0.35 * np.sin(phase)

    def limb(start, length, angle_from_down):
        return start + length * np.array([np.sin(angle_from_down), np.cos(angle_from_down)])

    joints = np.zeros((17, 2))
    joints[J["pelvis"]] = (x, floor_y - thigh - shin)
    for side, sign in (("left", 1), ("right", -1)):
        hip = joints[J["pelvis"]] + (sign * 0.06 * height, 0)
        knee = limb(hip, thigh, sign * swing)
        joints[J[f"{side}_hip"]], joints[J[f"{side}_knee"]] = hip, knee
        joints[J[f"{side}_ankle"]] = limb(knee, shin, sign * swing - 0.2)
    joints[J["spine"]] = joints[J["pelvis"]] - (0, torso / 2)
    joints[J["thorax"]] = joints[J["pelvis"]] - (0, torso)
    joints[J["neck_nose"]] = joints[J["thorax"]] - (0, 0.4 * head)
    joints[J["head_top"]] = joints[J["thorax"]] - (0, head)
    for side, sign in (("left", 1), ("right", -1)):
        shoulder = joints[J["thorax"]] + (sign * 0.1 * height, 0)
        elbow = limb(shoulder, upper_arm, -sign * swing)
        joints[J[f"{side}_shoulder"]], joints[J[f"{side}_elbow"]] = shoulder, elbow
        joints[J[f"{side}_wrist"]] = limb(elbow, forearm, -sign * swing + 0.3)
    rng = rng if rng is not None else np.random.default_rng(0)
    return joints + rng.normal(0, noise * height, joints.shape)


def detection(joints: np.ndarray, score: float = 0.9) -> Detection:
    pad = 0.05 * np.ptp(joints[:, 1])
    return Detection(np.concatenate([joints.min(axis=0) - pad, joints.max(axis=0) + pad]), score, joints)


def run(tracker: PeopleTracker, frames: list[dict[str, np.ndarray]], scores: dict[str, float] | None = None,
        seed: int = 0) -> list[dict[str, int]]:
    """Feed scripted frames (person name -> joints; an absent name is not detected), each in a
    shuffled order; return each frame's id per person."""
    rng = np.random.default_rng(seed)
    seen = []
    for k, people in enumerate(frames):
        names = [str(n) for n in rng.permutation(list(people))] if people else []
        ids = tracker.update([detection(people[n], (scores or {}).get(n, 0.9)) for n in names], k / FPS)
        seen.append(dict(zip(names, ids)))
    return seen


def ids_of(seen: list[dict[str, int]], name: str) -> list[int]:
    return [frame[name] for frame in seen if name in frame]


def path(xs: dict[int, float], build=ADULT, seed: int = 0, **figure) -> dict[int, np.ndarray]:
    """A person at x = ``xs[k]`` in each frame k they are detected in (``figure``: stick_figure's
    height and floor_y)."""
    rng = np.random.default_rng(seed)
    return {k: stick_figure(x, build, phase=2 * np.pi * k / FPS + seed, rng=rng, **figure) for k, x in xs.items()}


def walk(x0: float, speed_px_s: float, frames: range, build=ADULT, seed: int = 0, **figure) -> dict[int, np.ndarray]:
    return path({k: x0 + speed_px_s * (k - frames[0]) / FPS for k in frames}, build, seed, **figure)


def scene(n_frames: int, **people: dict[int, np.ndarray]) -> list[dict[str, np.ndarray]]:
    return [{name: track[k] for name, track in people.items() if k in track} for k in range(n_frames)]


# --- build ---------------------------------------------------------------------------------

def test_build_ignores_distance_and_place_and_tells_a_child_from_an_adult():
    adult = build_signature(stick_figure(100, noise=0))
    assert np.allclose(build_signature(stick_figure(500, height=80, phase=1.0, noise=0)), adult)
    assert np.allclose(np.exp(adult), np.array(ADULT), atol=0.01)  # swing does not shorten a 2D limb
    assert build_distance(adult, build_signature(stick_figure(100, SMALL_CHILD, noise=0))) > 0.2


def test_build_distance_caps_a_foreshortened_segment():
    joints = stick_figure(100, noise=0)
    seen_end_on = joints.copy()
    seen_end_on[[J["left_wrist"], J["right_wrist"]]] = seen_end_on[[J["left_elbow"], J["right_elbow"]]]
    assert build_distance(build_signature(joints), build_signature(seen_end_on)) == pytest.approx(FORESHORTENING_CAP / 6)


def test_a_turning_walker_keeps_its_build_and_a_child_shaped_one_does_not_share_it(monkeypatch):
    """The 3D walker of the other tests (turning, walking toward the camera, so its limbs are
    foreshortened), projected: its build stays near its mean; a child's proportions never come near."""
    def signatures():
        poses, roots = walker3d.walking(120, FPS)
        return np.array([build_signature(p) for p in walker3d.project(poses, roots, walker3d.FOCAL_PX,
                                                                      walker3d.IMAGE_SIZE)])
    adult = signatures()
    child_rest = walker3d.REST.copy()
    child_rest[[J["neck_nose"], J["head_top"]]] *= 1.3
    child_rest[[J[f"{side}_{joint}"] for side in ("left", "right") for joint in ("knee", "ankle", "elbow", "wrist")]] *= 0.85
    monkeypatch.setattr(walker3d, "REST", child_rest)
    child = signatures()
    tolerance = PeopleTracker().same_build
    assert np.percentile(build_distance(adult, adult.mean(axis=0)), 90) < tolerance
    assert build_distance(child, adult.mean(axis=0)).min() > tolerance


# --- association -----------------------------------------------------------------------------

def one_id_each(seen: list[dict[str, int]], *names: str) -> bool:
    """Each named person kept one id all along, and no two shared one."""
    ids = [set(ids_of(seen, name)) for name in names]
    return all(len(i) == 1 for i in ids) and len(set.union(*ids)) == len(names)


@pytest.mark.parametrize("rear_hidden", [False, True])
def test_two_people_walking_past_each_other_keep_their_ids(rear_hidden):
    """Same build, one a little further away, boxes overlapping for many frames; with
    ``rear_hidden`` the one behind is not detected at all while they overlap."""
    a, b = walk(100, 150, range(90)), walk(540, -150, range(90), seed=1, height=0.85 * HEIGHT_PX, floor_y=FLOOR_Y - 30)
    overlapping = [k for k in range(90) if box_iou(detection(a[k]).box, detection(b[k]).box) > 0.2]
    assert len(overlapping) >= 8
    if rear_hidden:
        b = {k: joints for k, joints in b.items() if k not in overlapping}
    tracker = PeopleTracker()
    seen = run(tracker, scene(90, a=a, b=b))
    assert one_id_each(seen, "a", "b")
    assert tracker.counts["id_switches"] == 0 and tracker.counts["new_ids"] == 2


@pytest.mark.parametrize("speed_px_s", [0, 120])
def test_an_occlusion_shorter_than_lost_s_keeps_the_id(speed_px_s):
    person = walk(150, speed_px_s, range(90))
    hidden = range(30, 30 + int(0.8 * FPS))
    tracker = PeopleTracker(lost_s=1.0)
    seen = run(tracker, scene(90, a={k: j for k, j in person.items() if k not in hidden}))
    assert set(ids_of(seen, "a")) == {0}
    assert tracker.counts == {**tracker.counts, "new_ids": 1, "lost_tracks": 0, "reentries": 0}


def test_one_who_comes_back_elsewhere_within_reentry_s_gets_the_id_back_and_later_a_new_one():
    """Leaves at the right, back at the left 3 s later: the same id; gone 6 s: a new one."""
    person = {**walk(450, 100, range(0, 30)), **walk(100, 100, range(120, 150), seed=1),
              **walk(300, 0, range(330, 360), seed=2)}
    tracker = PeopleTracker(lost_s=1.0, reentry_s=5.0)
    seen = run(tracker, scene(360, a=person))
    assert ids_of(seen, "a") == [0] * 60 + [1] * 30
    assert tracker.counts == {**tracker.counts, "new_ids": 2, "reentries": 1, "lost_tracks": 2}


def test_two_who_come_back_at_each_others_places_get_their_own_ids_by_build():
    a = {**walk(150, 0, range(0, 30), LONG_LEGGED), **walk(450, 0, range(90, 120), LONG_LEGGED, seed=2)}
    b = {**walk(450, 0, range(0, 30), SMALL_CHILD, seed=1), **walk(150, 0, range(90, 120), SMALL_CHILD, seed=3)}
    tracker = PeopleTracker()
    seen = run(tracker, scene(120, a=a, b=b))
    assert one_id_each(seen, "a", "b")
    assert tracker.counts["reentries"] == 2 and tracker.counts["new_ids"] == 2


def test_someone_of_another_build_coming_in_gets_a_new_id():
    """The child comes in after the adult's lost_s (within it, motion alone decides)."""
    adult, child = walk(450, 0, range(0, 30)), walk(150, 0, range(80, 110), SMALL_CHILD, seed=1)
    tracker = PeopleTracker()
    seen = run(tracker, scene(110, adult=adult, child=child))
    assert set(ids_of(seen, "adult")) == {0} and set(ids_of(seen, "child")) == {1}
    assert tracker.counts["reentries"] == 0


def test_no_one_is_taken_back_where_they_could_not_have_got_to():
    """The detector finds someone at the far side the frame after a person left: not the same one,
    though of the same build."""
    leaver, other = walk(20, -100, range(0, 30)), walk(600, 0, range(30, 60), seed=1)
    tracker = PeopleTracker()
    seen = run(tracker, scene(60, leaver=leaver, other=other))
    assert set(ids_of(seen, "leaver")) == {0} and set(ids_of(seen, "other")) == {1}


def test_max_people_caps_who_is_tracked_and_the_third_takes_the_place_of_one_who_left():
    """Three in view, two places: the two surest are tracked; when one leaves, the third takes
    their place at once (a child: an adult would take the leaver's id by build)."""
    a, b, c = walk(60, 0, range(20)), walk(300, 0, range(90), seed=1), walk(560, 0, range(90), SMALL_CHILD, seed=2)
    tracker = PeopleTracker(lost_s=1.0, max_people=2)
    seen = run(tracker, scene(90, a=a, b=b, c=c), scores={"a": 0.9, "b": 0.8, "c": 0.7})
    assert ids_of(seen, "a") == [0] * 20 and set(ids_of(seen, "b")) == {1}
    assert ids_of(seen, "c") == [-1] * 20 + [2] * 70
    assert tracker.counts["untracked"] == 20 and tracker.counts["displaced"] == 1


def test_a_single_person_detector_that_turns_to_someone_else_is_followed_there_at_once():
    """The legacy solution sees one person: when it finds another, that is a new id at once."""
    first, second = walk(100, 0, range(30)), walk(500, 0, range(30, 60), seed=1)
    tracker = PeopleTracker(max_people=1)
    seen = run(tracker, scene(60, first=first, second=second))
    assert ids_of(seen, "first") == [0] * 30 and ids_of(seen, "second") == [1] * 30
    assert tracker.counts["untracked"] == 0


def test_a_duplicate_or_a_one_off_detection_takes_no_place():
    """PoseLandmarker sometimes sees one person twice, or for a frame someone who is not there."""
    a, b = walk(150, 0, range(60)), walk(450, 0, range(30, 60), seed=1)
    frames = scene(60, a=a, b=b)
    frames[10]["copy_of_a"] = a[10] * 0.9 + a[10].mean(axis=0) * 0.1  # a smaller a, inside a's box
    frames[20]["one_off"] = stick_figure(560, rng=np.random.default_rng(9))
    tracker = PeopleTracker(max_people=2)
    seen = run(tracker, frames)
    assert set(ids_of(seen, "a")) == {0} and ids_of(seen, "copy_of_a") == [-1]
    assert ids_of(seen, "one_off") == [1] and set(ids_of(seen, "b")) == {2}  # the one-off's place was freed
    assert tracker.counts["duplicates"] == 1 and tracker.counts["new_ids"] == 3


# --- switches ------------------------------------------------------------------------------

def bounce(build_a, build_b) -> list[dict[str, np.ndarray]]:
    """Two people walk toward each other, both vanish for 10 frames as they meet (the detector
    loses them), turn back meanwhile and walk off the way they came: motion alone swaps them."""
    meet, speed = 45, 150 / FPS
    gone = range(meet - 5, meet + 6)
    a = path({k: 315 - 10 - speed * abs(k - meet) for k in range(90) if k not in gone}, build_a)
    b = path({k: 315 + 10 + speed * abs(k - meet) for k in range(90) if k not in gone}, build_b, seed=1)
    return scene(90, a=a, b=b)


def test_a_swap_by_motion_between_different_builds_is_caught_undone_and_counted():
    tracker = PeopleTracker()
    seen = run(tracker, bounce(LONG_LEGGED, SMALL_CHILD))
    assert one_id_each(seen, "a", "b")
    assert tracker.counts["id_switches"] == 2  # both detections were handed the other's id by motion


def test_the_same_swap_between_look_alikes_goes_unseen():
    """The limit of build: two adults of one build are swapped by the bounce, and nothing counts it."""
    tracker = PeopleTracker()
    seen = run(tracker, bounce(ADULT, ADULT))
    assert ids_of(seen, "a")[0] == ids_of(seen, "b")[-1] and ids_of(seen, "b")[0] == ids_of(seen, "a")[-1]
    assert tracker.counts["id_switches"] == 0


def test_a_detection_with_garbage_joints_in_the_right_box_is_still_the_same_person():
    """PoseLandmarker now and then returns someone upside down or squashed: the joints are far
    off, their build too, but the box is where the person is."""
    person, rng = walk(200, 60, range(40)), np.random.default_rng(5)
    tracker, ids = PeopleTracker(), []
    for k in range(40):
        found = detection(person[k])
        if k in (20, 21):
            x0, y0, x1, y1 = found.box
            garbage = rng.uniform((x0, y0), (x1, y1), (17, 2))  # anywhere in the box
            found = Detection(found.box, found.score, garbage)
        ids += tracker.update([found], k / FPS)
    assert ids == [0] * 40 and tracker.counts["new_ids"] == 1


def test_ids_are_given_out_from_the_min_frames_th_sighting_on():
    tracker = PeopleTracker(min_frames=3)
    seen = run(tracker, scene(10, a=walk(200, 0, range(10)), one_off={4: stick_figure(500)}))
    assert ids_of(seen, "a") == [-1, -1] + [0] * 8 and ids_of(seen, "one_off") == [-1]
    assert tracker.counts["unconfirmed"] == 3


def test_box_iou():
    a = np.array([0, 0, 10, 10], np.float32)
    assert box_iou(a, a) == pytest.approx(1.0)
    assert box_iou(a, np.array([5, 0, 15, 10], np.float32)) == pytest.approx(50 / 150)
    assert box_iou(a, np.array([20, 20, 30, 30], np.float32)) == 0.0


def test_lost_s_must_not_exceed_reentry_s():
    with pytest.raises(ValueError, match="lost_s"):
        PeopleTracker(lost_s=2.0, reentry_s=1.0)


# --- real detections -------------------------------------------------------------------------

def sample_clip_detections(first: int, last: int, bundle_cache: Path):
    """PoseLandmarker (the offline bundle, VIDEO mode, two poses) on frames first..last of the
    sample clip: per frame, the detections and each one's nose height in pixels."""
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from engines.skeleton import mediapipe_to_h36m
    from stream.pose_bundle import pose_landmarker_bundle

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(pose_landmarker_bundle(bundle_cache))),
        running_mode=vision.RunningMode.VIDEO, num_poses=2)
    cap = cv2.VideoCapture(str(Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"))
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        for k in range(last + 1):
            bgr = cap.read()[1]
            if k < first:
                continue
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            people = [np.array([(p.x * bgr.shape[1], p.y * bgr.shape[0], p.visibility) for p in pose])
                      for pose in landmarker.detect_for_video(image, k * 33).pose_landmarks]
            yield k, [(Detection(np.concatenate([xy.min(axis=0), xy.max(axis=0)]), float(person[:, 2].mean()),
                                 mediapipe_to_h36m(xy)), xy[0, 1]) for person in people for xy in [person[:, :2]]]
    cap.release()


def test_the_two_people_of_the_sample_clip_keep_their_ids(tmp_path):
    """The man on the box and the woman walking past below him each keep one id while both are in
    view, though the detector sometimes loses him and sometimes sees one of them twice."""
    tracker = PeopleTracker()
    ids = {"man": [], "woman": []}
    for k, found in sample_clip_detections(40, 143, tmp_path):
        got = tracker.update([d for d, _ in found], k / FPS)
        if k >= 60:  # both in view
            for (_, nose_y), person_id in zip(found, got):
                ids["man" if nose_y < 120 else "woman"].append(person_id)
    print(tracker.counts)
    assert len(ids["man"]) > 70 and len(ids["woman"]) > 70
    assert len(set(ids["man"])) == 1 and len(set(ids["woman"])) == 1 and set(ids["man"]) != set(ids["woman"])
    assert tracker.counts["id_switches"] == 0
