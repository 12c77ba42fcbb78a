"""``ds2ray prepare aishell``: AISHELL-1 (OpenSLR 33), 178 h of Mandarin read speech, 400 speakers.

Downloads ``data_aishell.tgz`` (md5-verified, resumable) and extracts it, or reads an extracted
tree::

    data_aishell/transcript/aishell_transcript_v0.8.txt     # "<utt-id> 词 词 词" lines
    data_aishell/wav/{train,dev,test}/<speaker>/<utt-id>.wav

The real archive ships ``wav/`` as one ``<speaker>.tar.gz`` per speaker; those are extracted in
place (each once: a marker file records it), also in a ``--source-dir`` tree. Transcripts are
normalised with all spaces removed. Writes ``manifest.{train,dev,test}.jsonl``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ds2ray.data.corpora import Corpus, common
from ds2ray.data.corpora.flags import CorpusOptions

log = logging.getLogger(__name__)

HELP = "AISHELL-1 Mandarin (OpenSLR 33): download or read an extracted tree; train/dev/test manifests"

URL_PATH = "resources/33/data_aishell.tgz"
#: md5 of data_aishell.tgz (as in the seed's data/aishell/aishell.py).
MD5 = "2f494334227864a8a8fec932999db9d8"
SPLITS = ("train", "dev", "test")
TRANSCRIPT = Path("transcript") / "aishell_transcript_v0.8.txt"


@dataclass(frozen=True)
class AishellOptions(CorpusOptions):
    """``ds2ray prepare aishell`` flags; ``source`` (``--data-dir``) is where the archive goes."""

    num_workers: int = common.num_workers_option()
    source_dir: str | None = common.source_dir_option("AISHELL-1", "data_aishell/ with transcript/ and wav/")
    remove_archives: bool = common.remove_archives_option()
    mirror: str = common.mirror_option()

    def validate(self) -> None:
        common.check_num_workers(self)
        common.check_mirror(self)


def prepare_aishell(out_dir: Path, source: Path | None, options: AishellOptions, *,
                    overwrite: bool = False) -> dict[str, Path]:
    """``manifest.{train,dev,test}.jsonl``; ``source``: where the archive is downloaded and
    extracted (default ``out_dir``), unless ``options.source_dir`` names an extracted tree."""
    data_dir = common.download_dir(out_dir, source, options.source_dir)
    todo = common.pending_splits(out_dir, SPLITS, overwrite)
    if options.source_dir:
        root = _aishell_root(common.require_dir(options.source_dir, "AISHELL folder"))
    else:
        root = data_dir / "data_aishell"
        if todo:
            from ds2ray.data.corpora.download import Resource, download_and_extract

            resource = Resource(f"{common.mirror_url(options.mirror)}/{URL_PATH}", md5=MD5)
            download_and_extract(resource, data_dir / "downloads", data_dir, remove_archive=options.remove_archives)
    if todo:
        extract_speaker_archives(root / "wav", remove=options.remove_archives)
    found: dict[str, list[common.Utterance]] = {}

    def split(name: str):
        if not found:
            found.update(collect(root))
        return found[name]

    return common.run_splits(out_dir, {s: (lambda s=s: split(s)) for s in SPLITS},
                             overwrite=overwrite, num_workers=options.num_workers)


def _aishell_root(source: Path) -> Path:
    """Accept ``data_aishell/`` itself or the folder that contains it."""
    return source / "data_aishell" if (source / "data_aishell").is_dir() else source


def extract_speaker_archives(wav_dir: Path, *, remove: bool = False) -> int:
    """Extract every ``wav/*.tar.gz`` (one per speaker) into ``wav/``; returns how many were new."""
    from ds2ray.data.corpora.download import extract_archive, extraction_marker

    if not wav_dir.is_dir():
        raise FileNotFoundError(f"AISHELL audio folder not found: {wav_dir}")
    archives = sorted(p for p in wav_dir.iterdir() if p.is_file() and p.name.endswith((".tar.gz", ".tgz")))
    new = [a for a in archives if not extraction_marker(a, wav_dir).exists()]
    if new:
        from tqdm import tqdm

        for archive in tqdm(new, desc="speaker archives", unit="archive", disable=None, leave=False):
            extract_archive(archive, wav_dir)
            if remove:
                archive.unlink()
        log.info("extracted %d speaker archive(s) in %s", len(new), wav_dir)
    return len(new)


def read_transcripts(path: Path) -> dict[str, str]:
    from ds2ray.data.text import normalize_text

    if not path.is_file():
        raise FileNotFoundError(f"AISHELL transcript not found: {path}")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        utt_id, _, text = line.strip().partition(" ")
        if utt_id:
            out[utt_id] = normalize_text(text, "zh")
    return out


def collect(root: Path) -> dict[str, list[common.Utterance]]:
    """Utterances per split; audio without a transcript (and the reverse) is counted and reported."""
    transcripts = read_transcripts(root / TRANSCRIPT)
    result: dict[str, list[common.Utterance]] = {}
    seen: set[str] = set()
    no_text = 0
    for split in SPLITS:
        split_dir = root / "wav" / split
        if not split_dir.is_dir():
            raise FileNotFoundError(f"AISHELL split folder not found: {split_dir}")
        result[split] = []
        for wav in common.find_files(split_dir, (".wav",)):
            utt_id = wav.stem
            if utt_id not in transcripts:
                no_text += 1
                continue
            seen.add(utt_id)
            result[split].append(common.Utterance(str(wav), transcripts[utt_id], speaker=wav.parent.name))
    if no_text:
        log.warning("%d AISHELL audio file(s) have no transcript and were skipped", no_text)
    if len(transcripts) > len(seen):
        log.warning("%d AISHELL transcript(s) have no audio file", len(transcripts) - len(seen))
    return result


CORPUS = Corpus("aishell", HELP, AishellOptions, prepare_aishell, out_flag=common.OUT_DIR,
                source_flag=common.data_dir_flag("AISHELL-1"), overwrite_flag=common.OVERWRITE)
