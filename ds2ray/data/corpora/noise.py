"""``ds2ray prepare noise --from FOLDER --out MANIFEST``: a manifest of the audio files under a
folder (any depth), for the ``noise`` augmentor. Lines carry ``audio_filepath`` (relative to the
manifest when below its folder), ``duration`` from the file header, and an empty ``text``.

Re-runnable: an existing manifest is kept unless ``--force``; the file is written atomically.
Unreadable files are skipped with a warning and counted.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ds2ray.data.corpora import Corpus, PathFlag
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "manifest of background-noise recordings under a folder (for the 'noise' augmentor)"
AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "opus", "mp3", "sph")


@dataclass(frozen=True)
class NoiseOptions(CorpusOptions):
    """``ds2ray prepare noise`` flags (``--from`` is ``source``, ``--out`` the manifest, ``--force``
    is ``overwrite``)."""

    extensions: str = option(",".join(AUDIO_EXTENSIONS),
                             "comma-separated file extensions to include (default: %(default)s)")
    min_duration: float = option(0.0, "skip files shorter than this (s)")
    max_duration: float | None = option(None, "skip files longer than this (s)")

    def validate(self) -> None:
        check(bool(_split(self.extensions)), self, "extensions", "must name at least one file extension")
        check(self.min_duration >= 0, self, "min_duration", "must be >= 0")
        check(self.max_duration is None or self.max_duration > self.min_duration, self, "max_duration",
              f"must be > min_duration ({self.min_duration})")


def prepare_noise(out: Path, source: Path | None, options: NoiseOptions, *,
                  overwrite: bool = False) -> dict[str, Path]:
    """An audio list: ``out`` is the manifest file itself (not a folder), ``source`` the folder of
    noise recordings. Prints what was written (or that an existing list was kept)."""
    return prepare_audio_list("noise", out, source, options, overwrite)


def prepare_audio_list(what: str, out: Path, source: Path | None, options: NoiseOptions,
                  overwrite: bool) -> dict[str, Path]:
    if source is None:
        raise ValueError(f"{what}: no source folder; pass the folder of recordings (--from)")
    report = build_audio_list(source, out, what=what, extensions=_split(options.extensions),
                              min_duration=options.min_duration, max_duration=options.max_duration,
                              force=overwrite)
    print(report.summary())
    return {what: Path(out)}


def list_flags(what: str) -> dict:
    """The CLI names of an audio list's ``out``, ``source`` and ``overwrite``."""
    return {"out_flag": PathFlag("--out", "manifest (JSON lines) to write", required=True),
            "source_flag": PathFlag("--from", f"folder with {what} audio files (searched recursively)",
                                    required=True, metavar="FROM_DIR"),
            "overwrite_flag": PathFlag("--force", "rebuild even if --out exists")}


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


CORPUS = Corpus("noise", HELP, NoiseOptions, prepare_noise, **list_flags("noise"))
