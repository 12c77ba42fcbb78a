"""``ds2ray prepare librispeech``: LibriSpeech (OpenSLR 12), 1000 h of read English audiobooks.

Downloads the requested parts from an OpenSLR mirror (md5-verified, resumable) and extracts them,
or reads an already extracted tree::

    LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   # "<utt-id> TEXT" lines
    LibriSpeech/<part>/<speaker>/<chapter>/<utt-id>.flac

and writes ``manifest.<part>.jsonl`` per part with the speaker id and lower-case text.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ds2ray.data.corpora import common

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


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_output_arguments(p)
    common.add_source_arguments(p, "LibriSpeech", "LibriSpeech/<part>/<spk>/<chapter>/ with .trans.txt and .flac")
    common.add_mirror_argument(p)
    p.add_argument("--parts", nargs="+", choices=(*PARTS, "all"), default=None, metavar="PART",
                   help=f"parts to prepare: {', '.join(PARTS)}, or 'all' (960 h of training audio). "
                        f"Default: with --source-dir every part found there, otherwise "
                        f"{' '.join(DEFAULT_DOWNLOAD_PARTS)}")


def run(args: argparse.Namespace) -> dict[str, str]:
    parts = _parts(args)
    todo = common.pending_splits(args.out_dir, parts, args.overwrite)
    if args.source_dir:
        root = _librispeech_root(common.require_dir(args.source_dir, "LibriSpeech folder"))
    else:
        root = common.data_dir(args) / "LibriSpeech"
        if todo:
            _download(todo, common.data_dir(args), common.mirror_url(args.mirror), args.remove_archives)
    return common.run_splits(
        args.out_dir, {part: (lambda part=part: collect(root / part)) for part in parts},
        overwrite=args.overwrite, num_workers=args.num_workers)


def _parts(args: argparse.Namespace) -> list[str]:
    if args.parts:
        return list(PARTS) if "all" in args.parts else list(dict.fromkeys(args.parts))
    if not args.source_dir:
        return list(DEFAULT_DOWNLOAD_PARTS)
    root = _librispeech_root(common.require_dir(args.source_dir, "LibriSpeech folder"))
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
