"""``ds2ray prepare librispeech``: LibriSpeech (OpenSLR 12), 1000 h of read English audiobooks.

Downloads the requested parts from an OpenSLR mirror (md5-verified, resumable) and extracts them,
or reads an already extracted tree::

    LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   # "<utt-id> TEXT" lines
    LibriSpeech/<part>/<speaker>/<chapter>/<utt-id>.flac

and writes ``manifest.<part>.jsonl`` per part with the speaker id and lower-case text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ds2ray.data.corpora import Corpus, common
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "LibriSpeech (OpenSLR 12): download or read an extracted tree; one manifest per part"

#: part -> md5 of ``<part>.tar.gz`` as published in https://www.openslr.org/resources/12/md5sum.txt
#: (the same values as the seed's data/librispeech/librispeech.py).
PARTS: dict[str, str] = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}
#: What a download fetches without --parts: the seed's minimal set (about 7 GB).
DEFAULT_DOWNLOAD_PARTS = ("dev-clean", "test-clean", "train-clean-100")
RESOURCE_PATH = "resources/12"


@dataclass(frozen=True)
class LibriSpeechOptions(CorpusOptions):
    """``ds2ray prepare librispeech`` flags; ``source`` (``--data-dir``) is where archives go."""

    num_workers: int = common.num_workers_option()
    source_dir: str | None = common.source_dir_option(
        "LibriSpeech", "LibriSpeech/<part>/<spk>/<chapter>/ with .trans.txt and .flac")
    remove_archives: bool = common.remove_archives_option()
    mirror: str = common.mirror_option()
    parts: tuple[str, ...] | None = option(
        None, f"parts to prepare: {', '.join(PARTS)}, or 'all' (960 h of training audio). "
              f"Default: with --source-dir every part found there, otherwise {' '.join(DEFAULT_DOWNLOAD_PARTS)}",
        choices=(*PARTS, "all"), metavar="PART")

    def validate(self) -> None:
        common.check_num_workers(self)
        common.check_mirror(self)
        if self.parts is not None:
            check(bool(self.parts) and set(self.parts) <= {*PARTS, "all"}, self, "parts",
                  f"must name some of {', '.join(PARTS)} or 'all'")


def prepare_librispeech(out_dir: Path, source: Path | None, options: LibriSpeechOptions, *,
                        overwrite: bool = False) -> dict[str, Path]:
    """One manifest per part; ``source``: where archives are downloaded and extracted (default
    ``out_dir``), unless ``options.source_dir`` names an extracted tree."""
    data_dir = common.download_dir(out_dir, source, options.source_dir)
    parts = _parts(options)
    todo = common.pending_splits(out_dir, parts, overwrite)
    if options.source_dir:
        root = _librispeech_root(common.require_dir(options.source_dir, "LibriSpeech folder"))
    else:
        root = data_dir / "LibriSpeech"
        if todo:
            _download(todo, data_dir, common.mirror_url(options.mirror), options.remove_archives)
    return common.run_splits(
        out_dir, {part: (lambda part=part: collect(root / part)) for part in parts},
        overwrite=overwrite, num_workers=options.num_workers)


def _parts(options: LibriSpeechOptions) -> list[str]:
    if options.parts:
        return list(PARTS) if "all" in options.parts else list(dict.fromkeys(options.parts))
    if not options.source_dir:
        return list(DEFAULT_DOWNLOAD_PARTS)
    root = _librispeech_root(common.require_dir(options.source_dir, "LibriSpeech folder"))
    found = [p for p in PARTS if (root / p).is_dir()]
    if not found:
        raise FileNotFoundError(f"no LibriSpeech part folders ({', '.join(PARTS)}) in {root}")
    return found


def _librispeech_root(source: Path) -> Path:
    """Accept the ``LibriSpeech/`` folder itself or the folder that contains it."""
    return source / "LibriSpeech" if (source / "LibriSpeech").is_dir() else source


def _download(parts: list[str], data_dir: Path, mirror: str, remove_archives: bool) -> None:
    from ds2ray.data.corpora.download import Resource, download_and_extract

    for part in parts:
        resource = Resource(f"{mirror}/{RESOURCE_PATH}/{part}.tar.gz", md5=PARTS[part])
        download_and_extract(resource, data_dir / "downloads", data_dir, remove_archive=remove_archives)


def collect(part_dir: Path) -> list[common.Utterance]:
    """Every transcribed utterance of one part folder; transcript lines without audio are reported."""
    from ds2ray.data.text import normalize_text

    if not part_dir.is_dir():
        raise FileNotFoundError(f"LibriSpeech part folder not found: {part_dir}")
    utterances: list[common.Utterance] = []
    missing: list[str] = []
    for trans in common.find_files(part_dir, (".trans.txt",)):
        for line_no, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            audio = trans.parent / f"{utt_id}.flac"
            if not audio.exists():
                missing.append(f"{trans}:{line_no}: {audio.name}")
                continue
            utterances.append(common.Utterance(str(audio), normalize_text(text, "en"),
                                               speaker=utt_id.split("-")[0]))
    if missing:
        log.warning("%s: %d transcript line(s) without audio skipped, e.g. %s",
                    part_dir.name, len(missing), missing[0])
    return utterances


CORPUS = Corpus("librispeech", HELP, LibriSpeechOptions, prepare_librispeech, out_flag=common.OUT_DIR,
                source_flag=common.data_dir_flag("LibriSpeech"), overwrite_flag=common.OVERWRITE)
