"""``ds2ray prepare fsdd``: the Free Spoken Digit Dataset (six speakers saying digits) split by speaker.

``source`` is the folder holding FSDD's ``manifest.jsonl`` and ``recordings/`` (e.g.
``../shared/data/fsdd``). The ``test_speaker`` is the test set; the other five speakers train, with
``dev_fraction`` of their recordings (a seeded sample) held out as dev. Manifests point at the
recordings in place (absolute paths). Re-runnable: existing manifests are kept unless ``overwrite``.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

from ds2ray.data.corpora import Corpus, PathFlag, common
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "Free Spoken Digit Dataset (a folder with manifest.jsonl): one speaker for test, a sample of the rest for dev"
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class FsddOptions(CorpusOptions):
    """``ds2ray prepare fsdd`` flags; ``source`` (``--data-dir``) holds FSDD's ``manifest.jsonl``."""

    test_speaker: str = option("theo", "the speaker held out for testing")
    dev_fraction: float = option(0.1, "share of the other speakers' recordings for dev")
    seed: int = option(0, "seed of the dev sample")

    def validate(self) -> None:
        check(bool(self.test_speaker), self, "test_speaker", "must name a speaker")
        common.check_fraction(self, "dev_fraction")


def prepare_fsdd(out_dir: Path, source: Path | None, options: FsddOptions, *,
                 overwrite: bool = False) -> dict[str, Path]:
    """``manifest.{train,dev,test}.jsonl`` in ``out_dir`` from ``source/manifest.jsonl``."""
    from ds2ray.data.manifest import read_manifest, write_manifest

    splits = {split: common.manifest_path(out_dir, split) for split in SPLITS}
    if not overwrite and all(path.exists() for path in splits.values()):
        log.info("fsdd: manifests exist in %s; skipping (overwrite to rebuild)", out_dir)
        return splits
    if source is None:
        raise ValueError("fsdd: no source folder; give the folder holding FSDD's manifest.jsonl and "
                         "recordings/ (--data-dir, or data.source in a recipe)")
    manifest = Path(source) / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"fsdd: {manifest} not found; the source must be the folder holding FSDD's "
                                "manifest.jsonl and recordings/ (e.g. ../shared/data/fsdd)")
    entries = list(read_manifest(str(manifest)))
    speakers = sorted({e.speaker for e in entries if e.speaker})
    if options.test_speaker not in speakers:
        raise ValueError(f"fsdd: test_speaker {options.test_speaker!r} (--test-speaker) is not in {manifest} "
                         f"(speakers: {speakers})")
    test = [e for e in entries if e.speaker == options.test_speaker]
    rest = [e for e in entries if e.speaker != options.test_speaker]
    rng = random.Random(options.seed)
    dev_ids = set(rng.sample(range(len(rest)), int(round(options.dev_fraction * len(rest)))))
    parts = {"train": [e for i, e in enumerate(rest) if i not in dev_ids],
             "dev": [e for i, e in enumerate(rest) if i in dev_ids], "test": test}
    for split, path in splits.items():
        write_manifest(path, parts[split], relative=False)  # the audio stays in the shared folder
    log.info("fsdd: test speaker %s, train/dev speakers %s", options.test_speaker,
             [s for s in speakers if s != options.test_speaker])
    return splits


CORPUS = Corpus("fsdd", HELP, FsddOptions, prepare_fsdd,
                out_flag=PathFlag("--out-dir", "folder for manifest.{train,dev,test}.jsonl", required=True),
                source_flag=PathFlag("--data-dir", "the folder holding FSDD's manifest.jsonl and recordings/"),
                overwrite_flag=common.OVERWRITE)
