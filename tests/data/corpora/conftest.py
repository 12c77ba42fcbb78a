"""Helpers for the corpus-builder tests: generated audio, ``ds2ray prepare`` in-process, manifests
keyed by file name, tar archives of a tree."""

from __future__ import annotations

import tarfile
from pathlib import Path

from ds2ray.cli import main
from ds2ray.data.manifest import read_manifest
from ds2ray.testing.signals import speechlike, write_audio


def make_audio(path: Path, seconds: float, sr: int = 16000, seed: int = 0) -> Path:
    return write_audio(path, speechlike(seconds, sr, seed=seed), sr)


def prepare(*argv: str) -> int:
    return main(["prepare", *map(str, argv)])


def by_name(manifest_path: Path, key=lambda p: p.stem) -> dict:
    """Manifest entries keyed by ``key(audio path)`` (unique); every path must resolve to a real file."""
    manifest = read_manifest(manifest_path)
    out = {}
    for e in manifest:
        assert Path(e.audio_filepath).is_file(), e.audio_filepath
        out[key(Path(e.audio_filepath))] = e
    assert len(out) == len(manifest), "duplicate keys"
    return out


def tar_dir(archive: Path, root: Path, members: list[str]) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for m in members:
            tar.add(root / m, arcname=m)
    return archive
