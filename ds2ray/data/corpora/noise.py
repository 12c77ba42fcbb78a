"""``ds2ray prepare noise --from FOLDER --out MANIFEST``: a manifest of the audio files under a
folder (any depth), for the ``noise`` augmentor. Lines carry ``audio_filepath`` (relative to the
manifest when below its folder), ``duration`` from the file header, and an empty ``text``.

Re-runnable: an existing manifest is kept unless ``--force``; the file is written atomically.
Unreadable files are skipped with a warning and counted.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

HELP = "manifest of background-noise recordings under a folder (for the 'noise' augmentor)"
AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "opus", "mp3", "sph")


def add_arguments(p: argparse.ArgumentParser, what: str = "noise") -> None:
    p.add_argument("--from", dest="from_dir", required=True, help=f"folder with {what} audio files (searched recursively)")
    p.add_argument("--out", required=True, help="manifest (JSON lines) to write")
    p.add_argument("--extensions", default=",".join(AUDIO_EXTENSIONS),
                   help="comma-separated file extensions to include (default: %(default)s)")
    p.add_argument("--min-duration", type=float, default=0.0, help="skip files shorter than this (s)")
    p.add_argument("--max-duration", type=float, default=None, help="skip files longer than this (s)")
    p.add_argument("--force", action="store_true", help="rebuild even if --out exists")


def run(args: argparse.Namespace) -> dict[str, str]:
    report = build_audio_list(args.from_dir, args.out, what="noise", extensions=_split(args.extensions),
                              min_duration=args.min_duration, max_duration=args.max_duration, force=args.force)
    print(report.summary())
    return {"noise": args.out}


@dataclass
class ListReport:
    out: str
    written: int = 0
    seconds: float = 0.0
    skipped_unreadable: list[str] = field(default_factory=list)
    skipped_duration: int = 0
    reused: bool = False

    def summary(self) -> str:
        if self.reused:
            return f"{self.out} exists; kept it (pass --force to rebuild)"
        msg = f"{self.written} files, {self.seconds / 60:.1f} min -> {self.out}"
        if self.skipped_duration:
            msg += f"; {self.skipped_duration} outside the duration limits"
        if self.skipped_unreadable:
            msg += f"; {len(self.skipped_unreadable)} unreadable skipped"
        return msg


def build_audio_list(folder: str | Path, out: str | Path, *, what: str, extensions=AUDIO_EXTENSIONS,
                     min_duration: float = 0.0, max_duration: float | None = None,
                     force: bool = False) -> ListReport:
    """Write a manifest of every audio file under ``folder`` (sorted by path, text empty)."""
    from ds2ray.data.audio import AudioError, audio_info
    from ds2ray.data.manifest import ManifestEntry, write_manifest

    folder, out = Path(folder), Path(out)
    report = ListReport(out=str(out))
    if out.exists() and not force:
        report.reused = True
        return report
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {folder}")
    wanted = {"." + e.lower().lstrip(".") for e in extensions}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    entries = []
    for path in files:
        try:
            duration = audio_info(str(path)).duration
        except AudioError as err:
            log.warning("skipping %s", err)
            report.skipped_unreadable.append(str(path))
            continue
        if duration <= 0 or duration < min_duration or (max_duration is not None and duration > max_duration):
            report.skipped_duration += 1
            continue
        entries.append(ManifestEntry(audio_filepath=os.path.abspath(path), duration=duration, text=""))
        report.seconds += duration
    if not entries:
        raise ValueError(f"no usable {what} audio ({', '.join(sorted(wanted))}) under {folder}"
                         + (f"; {len(report.skipped_unreadable)} unreadable" if report.skipped_unreadable else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    report.written = write_manifest(out, entries, relative=True)
    return report


def _split(extensions: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in extensions.split(",") if e.strip())
