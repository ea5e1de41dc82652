"""Every tool as a new user meets it: a few bad inputs give one line that names what was wrong and
exit status 2, never a traceback; --help shows the examples as written. The tools run in this
process (``runpy``) so that any exception escaping a tool fails the test with its traceback, and
the imports are paid once."""
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.recorder import Recorder
from synthetic_motion import pose_messages

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """A folder of bad inputs: text where binary is expected, a bare .npy, nothing at all."""
    folder = tmp_path_factory.mktemp("bad")
    for name in ("text.npz", "text.json", "text.safetensors", "text.pth", "text.npy"):
        (folder / name).write_text("hello")
    np.save(folder / "pose3d.npy", np.zeros((10, 17, 3)))
    cv2.imwrite(str(folder / "frame.jpg"), cv2.VideoCapture(str(SAMPLE)).read()[1])
    recorder = Recorder()
    for parts in pose_messages(45, 30.0):
        recorder.add(parts)
    recorder.save(folder / "session.npz")
    return folder


# (tool, arguments, what the error line must name); {bad} is the folder of bad inputs.
CASES = [
    ("tools/annotate.py", [str(SAMPLE), "{bad}/text.npz", "--out", "{bad}/o.mp4"], "text.npz"),
    ("tools/annotate.py", ["{bad}/missing.mp4", "{bad}/missing.npz", "--out", "{bad}/o.mp4"], "missing"),
    ("tools/annotate.py", ["{bad}/frame.jpg", "{bad}/session.npz", "--out", "{bad}/o.mp4"],
     "frame.jpg does not fit the recording: 1 frames, 1 with a pose, 44 poses past its end"),
    ("tools/bench.py", ["--weights", "{bad}/text.safetensors"], "text.safetensors"),
    ("tools/build_engine.py", ["{bad}/missing.safetensors"], "error"),
    ("tools/evaluate.py", ["--weights", "{bad}/missing.safetensors"], "missing.safetensors"),
    ("tools/export.py", ["{bad}/text.safetensors", "{bad}/o.onnx"], "text.safetensors"),
    ("tools/export_motion.py", ["{bad}/pose3d.npy", "--csv", "{bad}/x.csv"], "frame rate"),
    ("tools/export_motion.py", ["{bad}/text.npz", "--csv", "{bad}/x.csv"], "text.npz"),
    ("tools/fetch_mocap.py", ["--sources", "bogus"], "bogus"),
    ("tools/flops.py", ["--preset", "bogus"], "bogus"),
    ("tools/import_weights.py", ["{bad}/text.pth", "{bad}/o.safetensors", "--arch", "hot_mixste"], "text.pth"),
    ("tools/keys.py", ["/proc/nope", "alice"], "/proc/nope"),
    ("tools/latency_plot.py", ["{bad}/text.npz"], "text.npz"),
    ("tools/lift.py", ["{bad}/text.npy", "--output", "{bad}/o.npz"], "text.npy"),
    ("tools/make_sample.py", ["{bad}/missing.mp4"], "missing.mp4"),
    ("tools/replay.py", ["{bad}/text.npz"], "text.npz"),
    ("tools/replay.py", ["{bad}/session.npz", "--bind", "tcp://127.0.0.1:99999"], "port '99999' is not a number"),
    ("tools/soak.py", ["--source", "{bad}/missing.mp4", "--minutes", "0.01"], "missing.mp4"),
    ("tools/subscribe.py", ["--endpoint", "foo://bar"], "foo://bar"),
    ("tools/train.py", ["--data", "{bad}/missing", "--steps", "1"], "missing"),
    ("tools/train.py", ["--set", "camera.hfov_deg=[30, 40]"], "unknown section(s) ['camera']; use model, augmentation, "
     "noise, cameras"),
    ("tools/view.py", ["--connect", "foo://x", "--save", "{bad}/v.mp4", "--duration", "1"], "foo://x"),
    ("run_stream.py", ["--source", "{bad}/nosuchdir"], "source not found"),
    ("run_stream.py", ["--endpoint", "tcp://127.0.0.1:99999"], "99999"),
]


@pytest.mark.parametrize("tool,args,names", CASES, ids=[f"{t.split('/')[-1]}-{k}" for k, (t, _, _) in enumerate(CASES)])
def test_bad_input_is_one_line_and_exit_2(tool, args, names, bad, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [tool] + [a.format(bad=bad) for a in args])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(ROOT / tool), run_name="__main__")
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "error" in last and names in last, last


@pytest.mark.parametrize("tool", ["tools/evaluate.py", "tools/flops.py", "tools/import_weights.py", "tools/lift.py",
                                  "tools/train.py"])
def test_help_shows_the_docstring_examples_line_for_line(tool, capsys, monkeypatch):
    """Tools whose --help prints their whole docstring: a line lost there is a broken example."""
    source = (ROOT / tool).read_text()
    written = [line.strip() for line in source.split('"""')[1].splitlines() if line.strip()]
    monkeypatch.setattr(sys, "argv", [tool, "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(ROOT / tool), run_name="__main__")
    shown = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert exit_.value.code == 0
    for line in written:  # a doubled backslash in the source shows as one; a lone one joins two lines
        assert line.replace("\\\\", "\\") in shown, line
