"""A one-minute soak (``-m slow``): the looped sample clip, paced, with subscribers coming and going.
``tools/soak.py --minutes N`` runs the same for longer."""
from pathlib import Path

import pytest

from stream.config import load_settings
from stream.pipeline import Pipeline
from stream.soak import plot_soak, soak

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_one_minute_soak_keeps_memory_flat_and_accounts_for_every_frame(tmp_path):
    settings = load_settings(ROOT / "config.yaml", values={
        "source.uri": str(ROOT / "assets" / "sample.mp4"), "source.loop": True,
        "publisher.endpoint": "tcp://127.0.0.1:*", "pipeline.print_report": False})
    summary = soak(Pipeline.from_settings(settings), minutes=1, steady_subscribers=2, churn_every_s=2, warmup_s=20)
    assert summary["checks"] == {"rss_flat": True, "queues_bounded": True, "every_drop_counted": True,
                                 "seq_monotonic": True, "steady_subscribers_lost_nothing": True}
    counts = summary["counts"]
    assert counts["published"] + sum(summary["drops_by_cause"].values()) == counts["captured"]
    assert counts["published"] > 0 and summary["subscribers"]["joined"] > 10
    assert summary["fps"]["input"] > 0 and summary["fps"]["output"] > 0
    plot_soak(summary, tmp_path / "soak.png")
    assert (tmp_path / "soak.png").read_bytes()[:4] == b"\x89PNG"
