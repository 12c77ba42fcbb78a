"""``ds2ray prepare folder``: manifests for a local folder of your own recordings.

Transcripts come from either

- a sidecar file next to each recording: ``clip01.wav`` + ``clip01.txt`` (or ``clip01.lab``), or
- one table, ``transcripts.tsv`` (``filename<TAB>text``) or ``transcripts.csv`` (``filename,text``),
  in the folder (or given with ``--transcripts``). ``filename`` is the path relative to the folder,
  with or without extension, or just the file name when that is unique.

Recordings without a transcript and transcripts without a recording are counted and reported.
With ``--speaker-from-dir`` the name of each recording's folder is its speaker, and
``--dev-fraction``/``--test-fraction`` then hold out whole speakers. Writes ``manifest.all.jsonl``,
or ``manifest.{train,dev,test}.jsonl`` when split.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from ds2ray.data.corpora import Corpus, PathFlag, common
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "a local folder of audio with sidecar .txt/.lab transcripts or a transcripts.tsv/.csv"

SIDECAR_SUFFIXES = (".txt", ".lab")
TABLE_NAMES = ("transcripts.tsv", "transcripts.csv")
LANGUAGES = ("en", "zh", "auto")
_HEADER_WORDS = {"filename", "file", "file_name", "path", "audio", "audio_filepath", "wav", "name", "id"}


@dataclass(frozen=True)
class FolderOptions(CorpusOptions):
    """``ds2ray prepare folder`` flags; ``source`` (``--source-dir``) is the folder of recordings."""

    num_workers: int = common.num_workers_option()
    transcripts: str | None = option(
        None, "a .tsv (filename<TAB>text) or .csv (filename,text) table; default: "
              "SOURCE/transcripts.tsv or .csv if present, otherwise sidecar .txt/.lab files")
    language: str = option("auto", "text normalisation: English or Mandarin (no spaces); auto-detected by default",
                           choices=LANGUAGES)
    speaker_from_dir: bool = option(False, "use the name of each recording's folder as its speaker")
    dev_fraction: float = option(0.0, "share of utterances for dev (whole speakers when speakers are known)")
    test_fraction: float = option(0.0, "share of utterances for test (whole speakers when speakers are known)")
    seed: int = option(0, "seed of the split")

    def validate(self) -> None:
        common.check_num_workers(self)
        check(self.language in LANGUAGES, self, "language", f"must be one of {LANGUAGES}")
        common.check_fraction(self, "dev_fraction")
        common.check_fraction(self, "test_fraction")


def prepare_folder(out_dir: Path, source: Path | None, options: FolderOptions, *,
                   overwrite: bool = False) -> dict[str, Path]:
    """``manifest.all.jsonl``, or ``manifest.{train,dev,test}.jsonl`` with a dev/test fraction;
    ``source``: the folder of recordings (required)."""
    if source is None:
        raise ValueError("folder: no source folder; pass the folder of recordings (--source-dir)")
    source = common.require_dir(source, "audio folder")
    names = ["all"] if options.dev_fraction <= 0 and options.test_fraction <= 0 else \
        ["train"] + [n for n, f in (("dev", options.dev_fraction), ("test", options.test_fraction)) if f > 0]
    cache: dict[str, list[common.Utterance]] = {}

    def split(name: str) -> list[common.Utterance]:
        if not cache:
            utts = collect(source, transcripts=options.transcripts, language=options.language,
                           speaker_from_dir=options.speaker_from_dir)
            cache.update(common.split_by_speaker(utts, {"dev": options.dev_fraction, "test": options.test_fraction},
                                                 seed=options.seed, train_name=names[0]))
        return cache[name]

    return common.run_splits(out_dir, {n: (lambda n=n: split(n)) for n in names},
                             overwrite=overwrite, num_workers=options.num_workers)


def _table(source: Path, transcripts: str | None) -> Path | None:
    if transcripts:
        path = Path(transcripts).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"--transcripts file not found: {path}")
        return path
    return next((source / n for n in TABLE_NAMES if (source / n).is_file()), None)


def read_table(path: Path) -> list[tuple[int, str, str]]:
    """``(line number, filename, text)`` rows of a .tsv (first tab splits) or .csv table."""
    text = path.read_text(encoding="utf-8-sig")
    rows: list[tuple[int, str, str]] = []
    if path.suffix.lower() == ".csv":
        for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
            if row and any(c.strip() for c in row):
                if len(row) < 2:
                    raise ValueError(f"{path}:{line_no}: expected 'filename,text', got {row!r}")
                rows.append((line_no, row[0].strip(), ",".join(row[1:]).strip()))
    else:
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, tab, rest = line.partition("\t")
            if not tab:
                raise ValueError(f"{path}:{line_no}: expected 'filename<TAB>text', got {line!r}")
            rows.append((line_no, name.strip(), rest.strip()))
    return rows


class _AudioIndex:
    """Look recordings up by relative path, path without extension, file name or stem."""

    def __init__(self, source: Path, files: list[Path]) -> None:
        self.keys: dict[str, Path | None] = {}
        for f in files:
            rel = f.relative_to(source).as_posix()
            for key in dict.fromkeys((rel, rel.rsplit(".", 1)[0], f.name, f.stem)):
                # a key shared by two files is ambiguous: remember that with None
                self.keys[key] = None if key in self.keys and self.keys[key] != f else f

    def find(self, name: str) -> Path | None:
        name = name.replace("\\", "/")
        while name.startswith("./"):
            name = name[2:]
        for key in (name, name.rsplit(".", 1)[0]):
            if self.keys.get(key) is not None:
                return self.keys[key]
        return None


def collect(source: Path, *, transcripts: str | None = None, language: str = "auto",
            speaker_from_dir: bool = False) -> list[common.Utterance]:
    from ds2ray.data.text import detect_language, normalize_text

    audio_files = common.find_files(source, common.AUDIO_EXTENSIONS)
    if not audio_files:
        raise FileNotFoundError(f"no audio files ({', '.join(common.AUDIO_EXTENSIONS)}) under {source}")
    found: dict[Path, str] = {}
    orphans: list[str] = []  # transcripts without audio
    table = _table(source, transcripts)
    if table is not None:
        index = _AudioIndex(source, audio_files)
        for i, (line_no, name, text) in enumerate(read_table(table)):
            path = index.find(name)
            if path is None:
                if i == 0 and name.lower() in _HEADER_WORDS:
                    continue  # a header row
                orphans.append(f"{table}:{line_no}: {name}")
                continue
            found[path] = text
        source_of = str(table)
    else:
        audio_stems = {f.with_suffix("") for f in audio_files}
        for side in common.find_files(source, SIDECAR_SUFFIXES):
            if side.with_suffix("") not in audio_stems:
                orphans.append(str(side))
        for f in audio_files:
            side = next((f.with_suffix(s) for s in SIDECAR_SUFFIXES if f.with_suffix(s).is_file()), None)
            if side is not None:
                found[f] = " ".join(side.read_text(encoding="utf-8-sig", errors="replace").split())
        source_of = "sidecar .txt/.lab files"
    no_text = [f for f in audio_files if f not in found]
    log.info("%s: %d recordings, %d with a transcript (from %s)", source, len(audio_files), len(found), source_of)
    if no_text:
        log.warning("%d recording(s) without a transcript skipped, e.g. %s", len(no_text), no_text[0])
    if orphans:
        log.warning("%d transcript(s) without a recording, e.g. %s", len(orphans), orphans[0])
    if not found:
        raise ValueError(f"no recording under {source} has a transcript ({source_of}); "
                         "add sidecar .txt files or a transcripts.tsv")
    lang = detect_language(list(found.values())) if language == "auto" else language
    return [common.Utterance(str(f), normalize_text(text, lang),
                             speaker=f.parent.name if speaker_from_dir else None)
            for f, text in sorted(found.items())]


CORPUS = Corpus("folder", HELP, FolderOptions, prepare_folder, out_flag=common.OUT_DIR,
                source_flag=PathFlag("--source-dir", "folder with the recordings (searched recursively)",
                                     required=True),
                overwrite_flag=common.OVERWRITE)
