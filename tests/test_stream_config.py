"""Settings: config.yaml documents every setting, overrides work, bad input gives one clear line."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stream.config import SINK_SETTINGS, Settings, load_settings
from stream.sinks import SINKS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config.yaml"


def load_cli():
    spec = importlib.util.spec_from_file_location("run_stream", ROOT / "run_stream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_yaml_holds_every_setting_at_its_default_with_a_comment():
    tree = yaml.safe_load(CONFIG.read_text())
    assert set(tree) == set(Settings.model_fields)
    for section, model in Settings.model_fields.items():
        if section != "sinks":  # a list, empty by default; its types are documented in comments
            assert set(tree[section]) == set(model.annotation.model_fields), section
    text = CONFIG.read_text()
    for kind in SINKS:
        settings = next(a for a in SINK_SETTINGS if a.model_fields["type"].default == kind)
        documented = next(line for line in text.splitlines() if f"{{type: {kind}," in line)
        assert all(f"{name}:" in documented for name in settings.model_fields), kind
    assert load_settings(CONFIG) == Settings()
    lines = CONFIG.read_text().splitlines()

    def is_setting(line):
        return line.startswith("  ") and not line.lstrip().startswith("#")

    for i, line in enumerate(lines):
        if is_setting(line):  # settings of one group may share the comment above them
            above = next(prev for prev in reversed(lines[:i]) if not is_setting(prev))
            assert above.lstrip().startswith("#"), f"setting without a comment: {line.strip()}"


def test_overrides_are_typed_yaml_scalars():
    s = load_settings(CONFIG, ["lifter.lookahead=5", "filter.enabled=true", "root.focal_px=900.5",
                               "pipeline.report=runs/r.json", "source.uri=1"])
    assert s.lifter.lookahead == 5 and s.filter.enabled is True and s.root.focal_px == 900.5
    assert str(s.pipeline.report) == "runs/r.json" and s.source.uri == "1"
    assert load_settings(CONFIG, ["root.focal_px=null"]).root.focal_px is None


def test_frame_cache_setting_reaches_the_engine():
    from stream.build import load_default_engine

    base = ["lifter.backend=onnxruntime-cpu"]
    assert load_default_engine(load_settings(CONFIG, base)).describe()["frame_cache"] is True
    off = load_default_engine(load_settings(CONFIG, [*base, "lifter.frame_cache=false"]))
    assert off.describe()["frame_cache"] is False


@pytest.mark.parametrize("override, message", [
    ("lifter.lookahed=5", "unknown setting 'lifter.lookahed'"),
    ("nosuch.key=1", "unknown setting 'nosuch'"),
    ("lifter.lookahead=-1", "setting 'lifter.lookahead': Input should be greater than or equal to 0"),
    ("pose2d.backend=openpose", "setting 'pose2d.backend'"),
    ("publisher.stream_id=a/b", "setting 'publisher.stream_id'"),
    ("lifter.lookahead", "not of the form section.key=value"),
])
def test_bad_settings_name_the_culprit(override, message):
    with pytest.raises(ValueError) as err:
        load_settings(CONFIG, [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_config_files_are_data_not_code(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("source: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_settings(evil)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        load_settings(tmp_path / "list.yaml")


def test_cli_flags_map_to_settings_and_set_wins():
    cli = load_cli()
    args = cli.parse_args(["--source", "clip.mp4", "--as-fast-as-possible", "--lookahead", "3",
                           "--report", "r.json", "--backend", "torch", "--set", "lifter.lookahead=4"])
    s = load_settings(CONFIG, args.overrides, cli.flag_values(args))
    assert s.source.uri == "clip.mp4" and s.source.as_fast_as_possible
    assert s.lifter.lookahead == 4 and s.lifter.backend == "torch" and str(s.pipeline.report) == "r.json"
    assert cli.flag_values(cli.parse_args([])) == {}
    several = load_settings(CONFIG, [], cli.flag_values(cli.parse_args(["--max-people", "3"])))
    assert (several.pose2d.max_people, several.pose2d.backend, several.pose2d.num_poses) == (3, "tasks", 3)
    assert load_settings(CONFIG, [], cli.flag_values(cli.parse_args(["--max-people", "1"]))).pose2d.backend == "solutions"


@pytest.mark.parametrize("override, message", [
    ("pose2d.max_people=2", "max_people 2 needs backend 'tasks': 'solutions' sees one person"),
    ("pose2d.lost_s=9", "lost_s 9.0 must not exceed reentry_s 5.0"),
])
def test_settings_for_several_people_that_cannot_work_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        load_settings(CONFIG, [override])
    with pytest.raises(ValueError, match="more than the 2 people num_poses"):
        load_settings(CONFIG, ["pose2d.backend=tasks", "pose2d.max_people=3"])


@pytest.mark.parametrize("argv, message", [
    (["--set", "lifter.lookahed=5"], "run_stream.py: error: unknown setting 'lifter.lookahed'"),
    (["--source", "assets/sample.mp4", "--set", "pose2d.backend=tasks", "--set", "pose2d.task_file=no.task"],
     "run_stream.py: error: pose2d.task_file not found: no.task"),
    (["--source", "does/not/exist.mp4"], "run_stream.py: error: source not found: does/not/exist.mp4 (a camera index, a video file or a folder of images)"),
    (["--max-people", "0"], "run_stream.py: error: setting 'pose2d.max_people': Input should be greater than or equal to 1 (got 0)"),
    (["--max-people", "-2"], "run_stream.py: error: setting 'pose2d.max_people': Input should be greater than or equal to 1 (got -2)"),
    (["--max-people", "two"], "run_stream.py: error: argument --max-people: invalid int value: 'two' (--help for usage)"),
])
def test_cli_exits_2_with_one_line(argv, message):
    run = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), *argv], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == message
