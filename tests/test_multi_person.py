"""Several people end to end: run_stream.py --max-people 2 on the sample clip with the real models
(the offline PoseLandmarker bundle, the tracker, the shipped lifter), checked against a separate
pass of the same 2D model over the clip.

The clip: a man on a box (he jumps off at about frame 165 and lands in front of it at about 180,
then moves right), and a woman who walks in from the right at about frame 45 and out at the
left at about 200.
"""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.skeleton import JOINT_INDEX
from stream.pose2d import create_pose2d
from stream.recorder import load_recording
from stream.tracking import box_iou
from stream.wire import MetaFrame, PoseFrame

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"
LANDING = range(178, 186)  # the man lands where the woman walks: whose is whose is not labelled here


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_stream.py"), "--source", str(SAMPLE), "--as-fast-as-possible",
         "--max-people", "2", "--record", str(tmp / "two.npz"), "--report", str(tmp / "report.json"),
         "--endpoint", "tcp://127.0.0.1:*", "--set", "pipeline.print_report=false"],
        capture_output=True, text=True, cwd=ROOT, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    messages = list(load_recording(tmp / "two.npz").decoded())
    return {"report": json.loads((tmp / "report.json").read_text()),
            "poses": [m for m in messages if isinstance(m, PoseFrame)],
            "metas": [m for m in messages if isinstance(m, MetaFrame)]}


@pytest.fixture(scope="module")
def both_found():
    """The frames in which the 2D model, run on its own over the clip at its frame times, finds
    two different people (not one of them twice)."""
    pose = create_pose2d(backend="tasks", num_poses=2)
    video, found, seq = cv2.VideoCapture(str(SAMPLE)), [], 0
    try:
        while (frame := video.read())[0]:
            people = [p.detection().box for p in pose.estimate(frame[1], round(seq * 1000 / 30))]
            if len(people) == 2 and box_iou(*people) < 0.5:
                found.append(seq)
            seq += 1
    finally:
        video.release()
        pose.close()
    return found


def who(pose: PoseFrame) -> str | None:
    """The person a pose is of, by where it is in the image (see the module docstring)."""
    if pose.seq in LANDING:
        return None
    pixels = pose.arrays["pose2d"]
    if pose.seq < LANDING.start:
        return "man" if pixels[JOINT_INDEX["neck_nose"], 1] < 150 else "woman"
    return "man" if pixels[:, 0].mean() > 250 else "woman"


def test_both_people_are_published_where_both_are_seen(two_people, both_found):
    published = {}
    for pose in two_people["poses"]:
        published.setdefault(pose.seq, set()).add(pose.header["person"])
    both = [seq for seq in both_found if len(published.get(seq, ())) == 2]
    print(f"both found in {len(both_found)} frames, both published in {len(both)}")
    assert len(both_found) > 80  # the two are in view together for most of the clip
    assert len(both) >= 0.9 * len(both_found)


def test_each_person_keeps_their_id(two_people):
    ids = {"man": [], "woman": []}
    for pose in two_people["poses"]:
        if pose.valid and (person := who(pose)) is not None:
            ids[person].append(pose.header["person"])
    switches = {person: int(np.count_nonzero(np.diff(seen))) for person, seen in ids.items()}
    print(f"ids: { {p: sorted(set(s)) for p, s in ids.items()} }, switches: {switches}")
    assert len(ids["man"]) > 100 and len(ids["woman"]) > 100
    assert all(n <= 1 for n in switches.values())
    assert not set(ids["man"]) & set(ids["woman"])  # nobody ever has the other's id


def test_the_report_and_the_meta_message_account_for_every_person(two_people):
    report, poses = two_people["report"], two_people["poses"]
    counts, info = report["counts"], report["info"]
    assert counts["unaccounted"] == 0 and counts["published"] == len(poses) == counts["person_frames"]
    assert {int(p): v["published"] for p, v in info["people"].items()} == \
        {person: sum(p.header["person"] == person for p in poses) for person in {p.header["person"] for p in poses}}
    assert all(v["fps"] > 0 and 0 < v["glass_to_publish_ms"]["p50"] <= v["glass_to_publish_ms"]["p99"]
               for v in info["people"].values() if v["published"] > 1)
    assert {"1", "2"} <= set(info["pose2d_ms_by_people"])  # the 2D stage's cost with one and with two people
    assert {"tracker_new_ids", "tracker_id_switches", "tracker_reentries"} <= set(counts)
    listed = [m.description["people"] for m in two_people["metas"]]
    assert all(m.description["max_people"] == 2 for m in two_people["metas"])
    assert any(len(people) == 2 for people in listed) and any(len(people) == 1 for people in listed)
    per_seq = {}
    for pose in poses:
        per_seq.setdefault(pose.seq, []).append(pose.header["person"])
    assert all(len(people) == len(set(people)) <= 2 for people in per_seq.values())  # one message per person
