"""The real-video evaluation capture: ``Demo_MultiPerson`` of the PyPI ``pose2sim`` wheel.

Four synchronised, calibrated cameras (Qualisys ``.qca.txt``), 60 fps, 100 frames, two people;
BSD-3-Clause (Pose2Sim, David Pagnon). Only this demo is fetched: the package's other demos are
kept for independent acceptance testing and are never unpacked here.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from engines.data.mocap.packages import fetch_wheel

PACKAGE, VERSION = "pose2sim", "0.10.49"
DEMO = "Pose2Sim/Demo_MultiPerson"
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
MEMBERS = [f"{DEMO}/calibration/Calib.qca.txt", *(f"{DEMO}/videos/{c}.mp4" for c in CAMERAS)]
LICENCE_MEMBER = f"pose2sim-{VERSION}.dist-info/licenses/LICENSE"


def demo_paths(root: str | Path) -> tuple[list[Path], Path]:
    """(videos, calibration) of the demo unpacked under ``root``."""
    root = Path(root)
    return [root / "videos" / f"{c}.mp4" for c in CAMERAS], root / "calibration" / "Calib.qca.txt"


def fetch_demo(dest: str | Path = "data/pose2sim/Demo_MultiPerson") -> tuple[list[Path], Path]:
    """Download the wheel (not installing it), unpack the demo's videos and calibration into
    ``dest`` unless they are there, and return their paths."""
    dest = Path(dest)
    videos, calibration = demo_paths(dest)
    if all(p.is_file() for p in [*videos, calibration]):
        return videos, calibration
    with tempfile.TemporaryDirectory(prefix="pose2sim-") as workdir:
        package = fetch_wheel(PACKAGE, VERSION, Path(workdir), [*MEMBERS, LICENCE_MEMBER])
        for member in MEMBERS:
            target = dest / Path(member).relative_to(DEMO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(package.root / member, target)
        shutil.copyfile(package.root / LICENCE_MEMBER, dest / "LICENSE")
    return videos, calibration
