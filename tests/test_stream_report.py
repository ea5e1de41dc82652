"""The end-of-run report as printed: readable at a glance, with rates that can be compared."""
import numpy as np

from stream.pose2d import Pose2D
from stream.record import FrameRecord
from stream.report import REPORT_WIDTH, LatencyReport, format_report


def someone(person_id: int = 0) -> Pose2D:
    return Pose2D(np.zeros((33, 2), np.float32), np.ones(33, np.float32), np.zeros((33, 3), np.float32),
                  (640, 360), person_id)


def test_output_rate_is_not_above_the_input_rate_when_start_up_latency_drains():
    """The first frames wait for the models to warm up, then the backlog goes out in a burst: the
    publish times of a clean 30 fps run span less than its capture times."""
    report = LatencyReport()
    period_ns = 33_333_333
    for seq in range(30):
        t_capture = seq * period_ns
        latency = 500_000_000 - seq * 15_000_000  # 500 ms falling to 65 ms
        rec = FrameRecord(seq, "cam", t_capture, (640, 360), stamps={"capture": t_capture, "publish": t_capture + latency},
                          pose2d=someone())
        report.add(rec, sent=True)
    built = report.build({"captured": 30}, {}, (0, 29 * period_ns))
    assert built["fps"]["output"] <= built["fps"]["input"] == 30.0


def test_output_rate_is_not_above_the_input_rate_when_the_first_and_last_frames_are_not_sent():
    """A source's first and last frames came after pauses and had nobody in them: the frames sent
    are evenly 30 fps, but the run captured fewer frames per second than that."""
    report = LatencyReport()
    period_ns = 33_333_333
    sent_captures = [100_000_000 + k * period_ns for k in range(30)]
    for seq, t_capture in enumerate(sent_captures, start=1):
        report.add(FrameRecord(seq, "cam", t_capture, (640, 360), stamps={"capture": t_capture, "publish": t_capture},
                               pose2d=someone()), sent=True)
    built = report.build({"captured": 32}, {}, (0, sent_captures[-1] + 100_000_000))
    assert built["fps"]["input"] == round(31 / 1.166666657, 2)
    assert built["fps"]["output"] == round(29 / 1.166666657, 2) < built["fps"]["input"]


def test_printed_summary_names_the_counts_that_matter_on_short_lines():
    report = LatencyReport()
    rec = FrameRecord(0, "cam", 0, (640, 360), stamps={"capture": 0, "read": 1_000_000, "publish": 9_000_000},
                      pose2d=someone())
    report.add(rec, sent=True)
    counts = {"captured": 60, "dropped_at_source": 0, "invalid_frames": 0, "dropped_wait_2d": 21,
              "dropped_wait_lift": 0, "dropped_wait_publish": 0, "no_person": 6, "non_finite_2d": 0,
              "held_invalid": 1, "skipped_by_lifter": 0, "non_finite_3d": 0, "root_failed": 0, "not_confident": 1,
              "published": 34, "dropped_by_socket": 0, "meta_sent": 5, "meta_dropped": 0, "source_stalls": 0,
              "window_restarts_at_gaps": 0, "unaccounted": 0}
    text = format_report(report.build(counts, {}, (0, 2_000_000_000)))
    lines = text.splitlines()
    assert all(len(line) <= REPORT_WIDTH for line in lines), text
    assert "frames: captured 60, published 34, unaccounted 0" in lines
    counted = " ".join(line for line in lines if "counts" in line or line.startswith("   "))
    for shown in ("dropped_wait_2d 21", "no_person 6", "held_invalid 1", "not_confident 1", "meta_sent 5",
                  "12 more at 0"):
        assert shown in counted
    assert "dropped_by_socket" not in text and "skipped_by_lifter" not in text  # zeros are not listed


def test_each_person_has_their_own_count_rate_and_latency():
    report = LatencyReport()
    for seq in range(31):
        for person, latency_ms in ((0, 50), (4, 80)):
            if person == 4 and seq % 2:
                continue  # person 4 is published every other frame: 15 fps
            t = seq * 33_333_333
            report.add(FrameRecord(seq, "cam", t, (640, 360), stamps={"capture": t, "publish": t + latency_ms * 1_000_000},
                                   pose2d=someone(person)), sent=True)
    built = report.build({"captured": 31}, {}, (0, 30 * 33_333_333))
    assert built["fps"]["output"] == 30.0  # frames with a pose, not messages
    people = built["info"]["people"]
    assert people == {"0": {"published": 31, "fps": 30.0, "glass_to_publish_ms": {"p50": 50.0, "p99": 50.0}},
                      "4": {"published": 16, "fps": 15.0, "glass_to_publish_ms": {"p50": 80.0, "p99": 80.0}}}
