"""What the public-corpus builders share: common options and flags, turning (audio, text) pairs into manifest
entries in parallel (unreadable audio is skipped, counted and reported), re-runnable manifest
writing, and speaker-disjoint splits.

Imports stay light at module level: builders are imported when the CLI parser is built.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ds2ray.data.corpora import PathFlag
from ds2ray.data.corpora.flags import check, option

log = logging.getLogger(__name__)

#: The OpenSLR mirrors (https://www.openslr.org/12 lists them); LibriSpeech and AISHELL use these.
OPENSLR_MIRRORS = {
    "www": "https://www.openslr.org",
    "us": "https://us.openslr.org",
    "eu": "https://openslr.elda.org",
    "cn": "https://openslr.magicdatatech.com",
}

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".sph")


@dataclass(frozen=True)
class Utterance:
    """One transcribed recording found in a corpus tree, before its audio header is read."""

    audio_path: str
    text: str
    speaker: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class BuildReport:
    """What happened while building one manifest; logged by :func:`write_split`."""

    split: str
    written: int = 0
    hours: float = 0.0
    unreadable: list[str] = field(default_factory=list)  # "path: reason"
    empty_text: int = 0

    def summary(self) -> str:
        msg = f"{self.split}: {self.written} utterances, {self.hours:.2f} h"
        if self.unreadable:
            msg += f"; {len(self.unreadable)} unreadable audio file(s) skipped"
        if self.empty_text:
            msg += f"; {self.empty_text} empty transcript(s) skipped"
        return msg


# --------------------------------------------------------------------------- flags
#: ``--out-dir`` and ``--overwrite`` of the corpus builders; ``--data-dir`` is their ``source``.
OUT_DIR = PathFlag("--out-dir", "folder for the manifests (manifest.<split>.jsonl); audio paths inside it are "
                                "stored relative to it", required=True)
OVERWRITE = PathFlag("--overwrite", "rebuild manifests that already exist (finished ones are skipped otherwise)")
NUM_WORKERS = min(8, os.cpu_count() or 1)


def data_dir_flag(corpus: str) -> PathFlag:
    return PathFlag("--data-dir", f"where {corpus} archives are downloaded (DIR/downloads) and extracted "
                                  "(default: --out-dir)", group="source")


def num_workers_option() -> Any:
    return option(NUM_WORKERS, "threads reading audio headers (and downloading, where a corpus has many files)")


def source_dir_option(corpus: str, layout: str) -> Any:
    """``--source-dir``: an extracted tree (exclusive with ``--data-dir``, the builder's ``source``)."""
    return option(None, f"an already extracted {corpus} tree ({layout}); nothing is downloaded", group="source")


def remove_archives_option() -> Any:
    return option(False, "delete each downloaded archive once it is extracted (its marker file remains, "
                         "so re-runs still skip it)")


def mirror_option() -> Any:
    return option("www", f"OpenSLR mirror: one of {', '.join(OPENSLR_MIRRORS)} or a base URL "
                         "(the archive path resources/N/FILE is appended); checksums are always verified")


def check_num_workers(options: Any) -> None:
    check(options.num_workers >= 1, options, "num_workers", "must be >= 1")


def check_fraction(options: Any, name: str) -> None:
    value = getattr(options, name)
    check(0 <= value < 1, options, name, "must be a share in [0, 1)")


def check_mirror(options: Any) -> None:
    check(options.mirror in OPENSLR_MIRRORS or "://" in options.mirror, options, "mirror",
          f"must be one of {sorted(OPENSLR_MIRRORS)} or a URL")


def mirror_url(mirror: str) -> str:
    base = OPENSLR_MIRRORS.get(mirror, mirror)
    if "://" not in base:
        raise ValueError(f"--mirror {mirror!r}: expected one of {sorted(OPENSLR_MIRRORS)} or a URL")
    return base.rstrip("/")


def download_dir(out_dir: Path, source: Path | None, source_dir: str | None) -> Path:
    """Where archives are downloaded and extracted: ``source`` (``--data-dir``), else ``out_dir``.
    ``source`` and an extracted ``source_dir`` exclude each other."""
    if source is not None and source_dir:
        raise ValueError(f"give either a data folder to download into ({source}) or an extracted tree "
                         f"(source_dir {source_dir}), not both")
    return Path(source or out_dir).expanduser()


def manifest_path(out_dir: str | Path, split: str) -> Path:
    return Path(out_dir).expanduser() / f"manifest.{split}.jsonl"


def pending_splits(out_dir: str | Path, splits: Iterable[str], overwrite: bool, *,
                   log_skipped: bool = False) -> list[str]:
    """The splits whose manifest still has to be built."""
    splits = list(splits)
    todo = [s for s in splits if overwrite or not manifest_path(out_dir, s).exists()]
    for s in splits:
        if s not in todo and log_skipped:
            log.info("%s exists; skipping (pass --overwrite to rebuild)", manifest_path(out_dir, s))
    return todo


def require_dir(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}. Check --source-dir (or drop it to download).")
    return path


# --------------------------------------------------------------------------- manifests
def build_entries(utterances: Sequence[Utterance], split: str, *, num_workers: int = 1) -> tuple[list, BuildReport]:
    """Read each utterance's audio header (in threads) and make manifest entries, in input order.

    Utterances whose audio cannot be read are skipped and listed in the report; empty transcripts
    are skipped and counted.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    from ds2ray.data.audio import AudioError, audio_info
    from ds2ray.data.manifest import ManifestEntry

    report = BuildReport(split)
    keep = [u for u in utterances if u.text.strip()]
    report.empty_text = len(utterances) - len(keep)

    def info(u: Utterance):
        try:
            return audio_info(u.audio_path)
        except AudioError as err:
            return err

    entries = []
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        for u, res in tqdm(zip(keep, pool.map(info, keep)), total=len(keep), desc=f"reading {split}",
                           unit="file", disable=None, leave=False):
            if isinstance(res, Exception) or res.frames <= 0:
                # an AudioError already names the file
                report.unreadable.append(str(res) if isinstance(res, Exception) else f"{u.audio_path}: no samples")
                continue
            entries.append(ManifestEntry(audio_filepath=os.path.abspath(u.audio_path), duration=res.duration,
                                         text=u.text, speaker=u.speaker, extra=dict(u.extra)))
    report.written = len(entries)
    report.hours = sum(e.duration for e in entries) / 3600
    return entries, report


def write_split(out_dir: str | Path, split: str, utterances: Sequence[Utterance], *,
                num_workers: int = 1) -> tuple[str, BuildReport]:
    """Build and atomically write ``manifest.<split>.jsonl``; log a summary and the unreadable files."""
    from ds2ray.data.manifest import write_manifest

    entries, report = build_entries(utterances, split, num_workers=num_workers)
    path = manifest_path(out_dir, split)
    if not entries:
        raise ValueError(f"{split}: no usable utterances ({len(utterances)} found, "
                         f"{len(report.unreadable)} unreadable, {report.empty_text} without text); "
                         f"{path} was not written. Check the corpus folder.")
    write_manifest(path, entries)
    for line in report.unreadable[:10]:
        log.warning("skipped %s", line)
    if len(report.unreadable) > 10:
        log.warning("... and %d more unreadable audio files", len(report.unreadable) - 10)
    (log.warning if report.unreadable or report.empty_text else log.info)("%s -> %s", report.summary(), path)
    return str(path), report


# --------------------------------------------------------------------------- splits
def split_by_speaker(utterances: Sequence[Utterance], fractions: Mapping[str, float], *, seed: int = 0,
                     train_name: str = "train") -> dict[str, list[Utterance]]:
    """Split into ``train_name`` plus the held-out splits in ``fractions`` (share of utterances each).

    When every utterance has a speaker, whole speakers are assigned (so held-out splits use voices
    never heard in training); otherwise utterances are assigned one by one. Seeded and
    deterministic. Raises ``ValueError`` when there are too few speakers for the requested splits.
    """
    held = {name: f for name, f in fractions.items() if f > 0}
    if sum(held.values()) >= 1:
        raise ValueError(f"split fractions {held} leave nothing for {train_name}; their sum must be < 1")
    out: dict[str, list[Utterance]] = {train_name: []}
    out.update({name: [] for name in held})
    if not held:
        out[train_name] = list(utterances)
        return out
    rng = random.Random(seed)
    if utterances and all(u.speaker is not None for u in utterances):
        groups: dict[str, list[Utterance]] = {}
        for u in utterances:
            groups.setdefault(u.speaker, []).append(u)  # type: ignore[arg-type]
        if len(groups) < len(held) + 1:
            raise ValueError(f"{len(groups)} speaker(s) cannot make speaker-disjoint splits "
                             f"{[train_name, *held]}; lower --dev-fraction/--test-fraction to 0 or "
                             "split by utterance (drop the speaker option)")
        keys = sorted(groups)
        rng.shuffle(keys)
        units: list[list[Utterance]] = [groups[k] for k in keys]
    else:
        units = [[u] for u in utterances]
        rng.shuffle(units)
        if len(units) < len(held) + 1:
            raise ValueError(f"{len(units)} utterance(s) are too few for splits {[train_name, *held]}")
    total = len(utterances)
    i = 0
    for k, (name, frac) in enumerate(held.items()):
        target, got = frac * total, 0
        # at least one unit each, and always leave one for each later split and for training
        stop = len(units) - (len(held) - k)
        while i < stop and (got == 0 or got + len(units[i]) / 2 <= target):
            out[name].extend(units[i])
            got += len(units[i])
            i += 1
    for unit in units[i:]:
        out[train_name].extend(unit)
    return out


def find_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Every file under ``root`` whose name ends with one of ``suffixes`` (case-insensitive), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".extract-"))
        found.extend(Path(dirpath) / f for f in filenames if f.lower().endswith(suffixes))
    return sorted(found)


def run_splits(out_dir: str | Path, splits: Mapping[str, Callable[[], Sequence[Utterance]]], *,
               overwrite: bool, num_workers: int) -> dict[str, Path]:
    """Write each split whose manifest is missing (or all with ``overwrite``); return every path."""
    out_dir = Path(out_dir).expanduser()
    todo = set(pending_splits(out_dir, list(splits), overwrite, log_skipped=True))
    result = {}
    for split, collect in splits.items():
        if split in todo:
            write_split(out_dir, split, collect(), num_workers=num_workers)
        result[split] = manifest_path(out_dir, split)
    return result
