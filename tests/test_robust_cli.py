"""run_stream.py as a user meets it: signals drain and report (real subprocesses), bad engines and
settings are one line naming the file or setting and exit 2, and a pickle never runs."""
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from safetensors import safe_open
from safetensors.torch import save_file

import run_stream
from engines.checkpoint import DEFAULT_WEIGHTS
from stream.client import MetaFrame, PoseFrame, Subscriber

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listener:
    """A subscriber in a thread, collecting what it receives."""

    def __init__(self, endpoint: str):
        self.sub = Subscriber(endpoint, "cam0")
        self.poses, self.states = [], []
        self.got_poses = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            message = self.sub.receive(timeout_s=0.2)
            if isinstance(message, PoseFrame):
                self.poses.append(message)
                if len(self.poses) >= 10:
                    self.got_poses.set()
            elif isinstance(message, MetaFrame):
                self.states.append(message.description["source_state"])

    def close(self):
        self.done.set()
        self.thread.join()
        self.sub.close()


def start_looping_stream(tmp_path, endpoint, **popen):
    """run_stream.py on the sample clip, looped forever, paced like a camera."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_stream.py"), "--source", str(SAMPLE), "--endpoint", endpoint,
         "--report", str(tmp_path / "report.json"), "--set", "source.loop=true",
         "--set", "publisher.wait_for_subscriber_s=120"], cwd=ROOT, text=True, **popen)


def test_sigterm_drains_the_frames_in_flight_and_writes_the_report(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    listener = Listener(endpoint)
    proc = start_looping_stream(tmp_path, endpoint, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert listener.got_poses.wait(240), "no poses from the pipeline"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
        listener.done.wait(1)
    finally:
        proc.kill()
        listener.close()
    assert proc.returncode == 0, stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    counts = report["counts"]
    assert counts["unaccounted"] == 0 and counts["published"] >= 10
    assert "glass_to_publish" in stdout  # the summary was printed too
    assert len(listener.poses) == counts["published"] and listener.sub.lost == 0  # drained, not cut off
    assert listener.states[-1] == "ended"


def test_a_second_signal_while_draining_exits_at_once(tmp_path):
    """Ctrl-C, then SIGTERM before the drain is over: the second exits at once, with no report.

    On a quiet machine the drain can finish before a second signal sent "soon after" arrives, so
    both are queued while the process is stopped (two different signals never merge) and both are
    handled, in signal-number order, the moment it continues.
    """
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    listener = Listener(endpoint)
    proc = start_looping_stream(tmp_path, endpoint, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert listener.got_poses.wait(240), "no poses from the pipeline"
        proc.send_signal(signal.SIGSTOP)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        stderr = proc.stderr.read()
        proc.wait(60)
    finally:
        proc.kill()
        listener.close()
    assert "finishing the frames in flight" in stderr  # the first signal began a drain
    assert proc.returncode == 128 + signal.SIGTERM and "SIGTERM again: exiting now" in stderr
    assert not (tmp_path / "report.json").exists()


def cli_error(capsys, *argv) -> str:
    """The single line run_stream.py prints for a bad setup (exit status 2)."""
    assert run_stream.main(["--source", str(SAMPLE), "--endpoint", f"tcp://127.0.0.1:{free_port()}", *argv]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("run_stream.py")]
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def incompatible_checkpoint(path: Path) -> None:
    """The shipped checkpoint with one weight left out."""
    with safe_open(str(DEFAULT_WEIGHTS), framework="pt") as f:
        metadata = f.metadata()
        state = {k: f.get_tensor(k) for k in list(f.keys())[1:]}
    save_file(state, str(path), metadata=metadata)


def foreign_onnx(path: Path) -> None:
    """A valid ONNX graph that is not a hotstream export."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph), str(path))


@pytest.mark.parametrize("name,make,reason", [
    ("missing.safetensors", None, "checkpoint file not found"),
    ("corrupt.safetensors", lambda p: p.write_bytes(os.urandom(256)), "not a readable safetensors checkpoint"),
    ("incompatible.safetensors", incompatible_checkpoint, "missing keys"),
    ("missing.onnx", None, "ONNX file not found"),
    ("corrupt.onnx", lambda p: p.write_bytes(b"\x0a\xff\xff\xff\xff" + os.urandom(64)), "not a readable ONNX file"),
    ("foreign.onnx", foreign_onnx, "not a hotstream ONNX export"),
])
def test_engine_faults_are_one_line_naming_the_file(tmp_path, capsys, name, make, reason):
    path = tmp_path / name
    if make is not None:
        make(path)
    line = cli_error(capsys, "--weights", str(path))
    assert line.startswith(f"run_stream.py: error: {path}: ") and reason in line


class Payload:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker, evil = tmp_path / "pwned", tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(Payload(marker)))
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "--source", str(SAMPLE), "--weights", str(evil),
                           "--endpoint", f"tcp://127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"run_stream.py: error: {evil}: ")
    assert not marker.exists()


@pytest.mark.parametrize("override,message", [
    ("publisher.endpoint=tcp://*:5556", "reachable from other machines; set publisher.allow_remote"),
    ("publisher.curve_allowed_clients=keys", "needs both curve_secret_key and curve_allowed_clients"),
    ("lifter.key_joints=[left_hip, tail]", "unknown joint(s) tail"),
    ("lifter.min_key_score=2", "less than or equal to 1"),
    ("source.reconnect_backoff_s=-1", "greater than 0"),
    ("source.stall_s=soon", "valid number"),
    ("source.loop=!!python/object/apply:os.system ['true']", "not valid YAML"),
])
def test_every_bad_new_setting_is_one_line(capsys, override, message):
    assert message in cli_error(capsys, "--set", override)
