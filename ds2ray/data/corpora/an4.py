"""``ds2ray prepare an4``: CMU AN4 (census / alphanumeric database), about 1 h of read US English.

Downloads ``an4_sphere.tar.gz`` (64 MB; resumable) and extracts it, or reads an extracted tree::

    an4/etc/an4_train.transcription      # "<s> TEXT </s> (utt-id)" lines
    an4/etc/an4_test.transcription
    an4/wav/an4_clstk/<speaker>/<utt-id>.sph       # NIST SPHERE, read natively by soundfile
    an4/wav/an4test_clstk/<speaker>/<utt-id>.sph

CMU publishes no checksum for the archive; pass ``--sha256``/``--md5`` to pin one. A download is
still checked for being a complete archive (a truncated one fails to extract and is reported).
Writes ``manifest.{train,test}.jsonl``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ds2ray.data.corpora import Corpus, common
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "CMU AN4 (SPHERE audio): download or read an extracted tree; train/test manifests"

#: The archive on CMU's AN4 page (http://www.speech.cs.cmu.edu/databases/an4/).
URL = "http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz"
#: The copy NVIDIA NeMo's AN4 tutorial downloads, for --url.
NEMO_MIRROR = "https://dldata-public.s3.us-east-2.amazonaws.com/an4_sphere.tar.gz"
#: split -> (transcription file, audio folder) under an4/
SPLITS = {
    "train": ("etc/an4_train.transcription", "wav/an4_clstk"),
    "test": ("etc/an4_test.transcription", "wav/an4test_clstk"),
}
_LINE = re.compile(r"^(?P<text>.*?)\s*\((?P<id>[^()\s]+)\)\s*$")
_TAG = re.compile(r"</?s>|<sil>", re.IGNORECASE)


@dataclass(frozen=True)
class AN4Options(CorpusOptions):
    """``ds2ray prepare an4`` flags; ``source`` (``--data-dir``) is where the archive goes."""

    num_workers: int = common.num_workers_option()
    source_dir: str | None = common.source_dir_option(
        "AN4", "an4/ with etc/*.transcription and wav/an4_clstk, wav/an4test_clstk")
    remove_archives: bool = common.remove_archives_option()
    url: str = option(URL, f"archive URL (default: CMU; NeMo's copy: {NEMO_MIRROR})")
    sha256: str | None = option(None, "verify the downloaded archive against this sha256")
    md5: str | None = option(None, "verify the downloaded archive against this md5")

    def validate(self) -> None:
        common.check_num_workers(self)
        check("://" in self.url, self, "url", "must be a URL")


def prepare_an4(out_dir: Path, source: Path | None, options: AN4Options, *,
                overwrite: bool = False) -> dict[str, Path]:
    """``manifest.{train,test}.jsonl``; ``source``: where the archive is downloaded and extracted
    (default ``out_dir``), unless ``options.source_dir`` names an extracted tree."""
    data_dir = common.download_dir(out_dir, source, options.source_dir)
    todo = common.pending_splits(out_dir, SPLITS, overwrite)
    if options.source_dir:
        src = common.require_dir(options.source_dir, "AN4 folder")
        root = src / "an4" if (src / "an4").is_dir() else src
    else:
        root = data_dir / "an4"
        if todo:
            from ds2ray.data.corpora.download import Resource, download_and_extract

            resource = Resource(options.url, md5=options.md5, sha256=options.sha256)
            download_and_extract(resource, data_dir / "downloads", data_dir, remove_archive=options.remove_archives)
    return common.run_splits(out_dir, {s: (lambda s=s: collect(root, s)) for s in SPLITS},
                             overwrite=overwrite, num_workers=options.num_workers)


def parse_transcription_line(line: str) -> tuple[str, str] | None:
    """``"<s> YES </s> (an86-fash-b)"`` -> ``("an86-fash-b", "YES")``; ``None`` for a blank line."""
    line = line.strip()
    if not line:
        return None
    m = _LINE.match(line)
    if not m:
        raise ValueError("expected '<s> TEXT </s> (utterance-id)'")
    return m["id"], " ".join(_TAG.sub(" ", m["text"]).split())


def collect(root: Path, split: str) -> list[common.Utterance]:
    from ds2ray.data.text import normalize_text

    trans_rel, wav_rel = SPLITS[split]
    trans, wav_dir = root / trans_rel, root / wav_rel
    if not trans.is_file():
        raise FileNotFoundError(f"AN4 transcription not found: {trans}")
    if not wav_dir.is_dir():
        raise FileNotFoundError(f"AN4 audio folder not found: {wav_dir}")
    audio = {p.stem: p for p in common.find_files(wav_dir, (".sph", ".wav"))}
    utterances, missing, used = [], [], set()
    for line_no, line in enumerate(trans.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            parsed = parse_transcription_line(line)
        except ValueError as err:
            raise ValueError(f"{trans}:{line_no}: {err}, got {line!r}") from err
        if parsed is None:
            continue
        utt_id, text = parsed
        path = audio.get(utt_id)
        if path is None:
            missing.append(utt_id)
            continue
        used.add(utt_id)
        utterances.append(common.Utterance(str(path), normalize_text(text, "en"), speaker=path.parent.name))
    if missing:
        log.warning("AN4 %s: %d transcript line(s) without audio skipped, e.g. %s", split, len(missing), missing[0])
    if len(audio) > len(used):
        log.warning("AN4 %s: %d audio file(s) without transcript skipped", split, len(audio) - len(used))
    return utterances


CORPUS = Corpus("an4", HELP, AN4Options, prepare_an4, out_flag=common.OUT_DIR,
                source_flag=common.data_dir_flag("AN4"), overwrite_flag=common.OVERWRITE)
