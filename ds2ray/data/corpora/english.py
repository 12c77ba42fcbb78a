"""``ds2ray prepare english``: the broadest English training set this machine reaches with nothing
downloaded at run time (the ``english`` recipe's corpus).

From the shared real-speech folder (``source``, e.g. ``../shared/data``; layout in its README):

=====================  ==========================================================================
split                  utterances
=====================  ==========================================================================
``train``              speechocean762 ``manifest_train.jsonl`` + ``fsdd`` (all) + ``speech_commands``
                       (all) + synthetic speech (every free English TTS voice, balanced by engine)
``dev``                speechocean762 ``manifest_test.jsonl`` minus the test subset
``test_speechocean``   speechocean762 ``manifest_test.jsonl`` lines 1, 6, 11, ... (0-based index % 5 == 0)
``test_an4`` ...       ``an4``, ``pocketsphinx``, ``speechbrain``, ``alsa_sounds``: one split each
=====================  ==========================================================================

Manifests point at the shared audio in place (absolute paths). A shared folder that is missing is
skipped with a warning (its split is written empty). Text for the synthetic speech and the LM comes
from :mod:`ds2ray.data.english_text` minus every dev and test transcript, in ``out_dir``:
``text.synth.txt`` (at most ``synth_sentences_per_source`` sentences per source) and
``text.lm.txt`` (every sentence + the speechocean762 training transcripts). The synthetic
corpus is ``out_dir/synth/`` (:func:`ds2ray.data.corpora.synth.synthesize_corpus`, resumable).

Re-runnable: the text files and ``english.json`` (written last, with hours per source and
engine) are skipped when their settings are unchanged; every file is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ds2ray import fileio
from ds2ray.data.corpora import Corpus, PathFlag, common
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "English from the shared real-speech folder plus synthetic speech of free English text (no downloads)"

#: split -> shared folder and manifest file of the test sets (each scored separately)
TEST_SETS = {
    "test_an4": ("an4", "manifest.jsonl"),
    "test_pocketsphinx": ("pocketsphinx", "manifest.jsonl"),
    "test_speechbrain": ("speechbrain", "manifest.jsonl"),
    "test_alsa": ("alsa_sounds", "manifest.jsonl"),
}
#: real training speech besides speechocean762's training half: name -> (folder, manifest)
TRAIN_SETS = {
    "speechocean762": ("speechocean762", "manifest_train.jsonl"),
    "fsdd": ("fsdd", "manifest.jsonl"),
    "speech_commands": ("speech_commands", "manifest.jsonl"),
}
SPEECHOCEAN_TEST = ("speechocean762", "manifest_test.jsonl")
#: ``train_real`` is the real-speech part of ``train`` again: listing both in ``data.train`` weights
#: real recordings twice against the synthetic ones.
SPLITS = ("train", "train_real", "dev", "test_speechocean", *TEST_SETS)


@dataclass(frozen=True)
class EnglishOptions(CorpusOptions):
    """``ds2ray prepare english`` flags; ``source`` (``--data-dir``) is the shared real-speech folder."""

    synth_hours: float = option(12.0, "hours of synthetic speech (0: none)")
    synth_utterances: int = option(0, "an exact number of synthetic utterances instead of --synth-hours "
                                      "(0: use the hours)")
    synth_engines: str = option("espeak,flite,festival,piper",
                                "TTS engines, each an equal share of the synthetic utterances")
    text_sources: str = option("builtin,wordnet,gcide,web,fortunes",
                               "text sources of ds2ray.data.english_text (first listed wins a duplicate)")
    synth_sentences_per_source: int = option(
        8000, "at most this many sentences of each source in text.synth.txt (all go to the LM)")
    min_words: int = option(3, "shortest sentence kept (words)")
    max_words: int = option(25, "longest sentence kept (words)")
    test_every: int = option(5, "speechocean762 test subset: every N-th line of manifest_test.jsonl (the rest is dev)")
    seed: int = option(0, "seed of the synthetic corpus and the sentence sample")
    num_workers: int = option(os.cpu_count() or 1, "parallel synthesis workers")

    def validate(self) -> None:
        check(self.synth_hours >= 0, self, "synth_hours", "must be >= 0 (0: no synthetic speech)")
        check(self.synth_utterances >= 0, self, "synth_utterances", "must be >= 0 (0: use synth_hours)")
        check(bool(_names(self.synth_engines)) or not (self.synth_hours or self.synth_utterances), self,
              "synth_engines", "must name at least one TTS engine")
        check(bool(_names(self.text_sources)), self, "text_sources", "must name at least one text source")
        check(self.synth_sentences_per_source >= 1, self, "synth_sentences_per_source", "must be >= 1")
        check(self.min_words >= 1, self, "min_words", "must be >= 1")
        check(self.max_words >= self.min_words, self, "max_words", f"must be >= min_words ({self.min_words})")
        check(self.test_every >= 2, self, "test_every",
              "must be >= 2 (the rest of speechocean762's test half is dev)")
        check(self.num_workers >= 1, self, "num_workers", "must be >= 1")


def _names(csv: str) -> list[str]:
    return [s.strip() for s in csv.split(",") if s.strip()]


# ---------------------------------------------------------------------------------------------
# real speech


def read_shared(source: Path | None, folder: str, manifest: str, name: str) -> list | None:
    """Entries of ``<source>/<folder>/<manifest>`` (absolute audio paths, texts normalised, tagged
    with ``source``), or None with a warning when the folder is missing."""
    from ds2ray.data.english_text import normalize_sentence
    from ds2ray.data.manifest import ManifestEntry, read_manifest

    path = source / folder / manifest if source else None
    if path is None or not path.is_file():
        log.warning("english: %s not found; skipping %s", path or f"<no data.source>/{folder}/{manifest}", name)
        return None
    out = []
    for e in read_manifest(str(path)):
        text = normalize_sentence(e.text)
        if text:
            out.append(ManifestEntry(e.audio_filepath, e.duration, text, e.offset, e.speaker,
                                     {**e.extra, "source": name}))
    return out


def real_splits(source: Path | None, test_every: int) -> dict[str, list]:
    """The real-speech part of every split (see the module docstring)."""
    parts: dict[str, list] = {s: [] for s in SPLITS}
    for name, (folder, manifest) in TRAIN_SETS.items():
        parts["train"] += read_shared(source, folder, manifest, name) or []
    held = read_shared(source, *SPEECHOCEAN_TEST, "speechocean762") or []
    parts["test_speechocean"] = [e for i, e in enumerate(held) if i % test_every == 0]
    parts["dev"] = [e for i, e in enumerate(held) if i % test_every != 0]
    for split, (folder, manifest) in TEST_SETS.items():
        parts[split] = read_shared(source, folder, manifest, folder) or []
    if not parts["dev"]:
        log.warning("english: no dev utterances (speechocean762 missing); train and tune need a dev set")
    return parts


# ---------------------------------------------------------------------------------------------
# text


def _fingerprint(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _write_lines(path: Path, lines: list[str]) -> None:
    with fileio.atomic_write(str(path)) as fh:
        fh.write("".join(line + "\n" for line in lines))


def _write_json(path: Path, data: Any) -> None:
    with fileio.atomic_write(path) as fh:
        fh.write(json.dumps(data, indent=2) + "\n")


def build_texts(data_dir: Path, opts: EnglishOptions, parts: dict[str, list], force: bool) -> dict:
    """``text.synth.txt`` and ``text.lm.txt`` (dev and test sentences removed); ``text.json`` records
    the counts per source and marks them finished."""
    from ds2ray.data.english_text import build_english_text

    held_out = sorted({e.text for split, es in parts.items() if split != "train" for e in es})
    train_transcripts = [e.text for e in parts["train"] if e.extra.get("source") == "speechocean762"]
    settings = {"sources": opts.text_sources, "per_source": opts.synth_sentences_per_source,
                "min_words": opts.min_words, "max_words": opts.max_words, "seed": opts.seed,
                "held_out": _fingerprint({"t": held_out}), "train": _fingerprint({"t": train_transcripts})}
    marker = data_dir / "text.json"
    synth_txt, lm_txt = data_dir / "text.synth.txt", data_dir / "text.lm.txt"
    if not force and marker.exists() and synth_txt.exists() and lm_txt.exists():
        done = json.loads(marker.read_text())
        if done.get("settings") == settings:
            return done
    text = build_english_text(_names(opts.text_sources), exclude=held_out,
                              min_words=opts.min_words, max_words=opts.max_words)
    rng = random.Random(opts.seed)
    synth_lines: list[str] = []
    synth_counts: dict[str, int] = {}
    for name, sentences in text.sentences.items():
        pick = sentences if len(sentences) <= opts.synth_sentences_per_source else \
            rng.sample(sentences, opts.synth_sentences_per_source)
        synth_lines += pick
        synth_counts[name] = len(pick)
    held = set(held_out)
    lm_extra = [t for t in train_transcripts if t not in held]
    lm_lines = text.all_sentences() + lm_extra
    if not synth_lines:
        raise ValueError(f"english: no text for synthesis from sources {opts.text_sources!r}; install "
                         "wordnet-base, dict-gcide, sword-text-web, diatheke, fortunes-min (make setup)")
    _write_lines(synth_txt, synth_lines)
    _write_lines(lm_txt, lm_lines)
    done = {"settings": settings, "sources": {n: c.to_dict() for n, c in text.counts.items()},
            "synth_sentences": {**synth_counts, "total": len(synth_lines)},
            "lm_sentences": {"text": len(text.all_sentences()), "speechocean762_train": len(lm_extra),
                             "speechocean762_train_dropped_as_held_out": len(train_transcripts) - len(lm_extra),
                             "total": len(lm_lines)},
            "held_out_sentences": len(held_out)}
    _write_json(marker, done)
    return done


# ---------------------------------------------------------------------------------------------
# the builder


def synth_config(opts: EnglishOptions, text_path: Path):
    from ds2ray.data.corpora.synth import SynthConfig

    engines = tuple(_names(opts.synth_engines))
    size = {"hours": None, "num_utterances": opts.synth_utterances} if opts.synth_utterances > 0 else \
        {"hours": opts.synth_hours}
    return SynthConfig(text=str(text_path), engines=engines, **size, dev_fraction=0.0,
                       test_fraction=0.0, heldout_timbres=0, seed=opts.seed, balance="engine",
                       espeak_variants="all")


def prepare_english(out_dir: Path, source: Path | None, options: EnglishOptions, *,
                    overwrite: bool = False) -> dict[str, Path]:
    """Build every split of the english corpus in ``out_dir`` (see the module docstring); ``source``
    is the shared real-speech folder."""
    from ds2ray.data.corpora.synth import synthesize_corpus
    from ds2ray.data.manifest import ManifestEntry, read_manifest, write_manifest

    data_dir = Path(out_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    manifests = {split: common.manifest_path(data_dir, split) for split in SPLITS}
    marker = data_dir / "english.json"
    settings = {k: v for k, v in options.to_dict().items() if k != "num_workers"}
    settings["source"] = str(source)
    if not overwrite and marker.exists() and all(path.exists() for path in manifests.values()):
        done = json.loads(marker.read_text())
        if done.get("settings") == settings:
            log.info("english: manifests exist; %s", _describe(done))
            return manifests
    src = Path(source) if source else None
    if src is None or not src.is_dir():
        log.warning("english: shared data folder %s not found; only synthetic speech will be built", source)
    parts = real_splits(src, options.test_every)
    texts = build_texts(data_dir, options, parts, overwrite)

    synth: list = []
    synth_info: dict = {}
    if options.synth_hours > 0 or options.synth_utterances > 0:
        t0 = time.time()
        cfg = synth_config(options, data_dir / "text.synth.txt")
        synth_manifests = synthesize_corpus(cfg, data_dir / "synth", num_workers=options.num_workers,
                                            overwrite=overwrite)
        synth = [ManifestEntry(e.audio_filepath, e.duration, e.text, e.offset, e.speaker,
                               {**e.extra, "source": "synth"}) for e in read_manifest(synth_manifests["train"])]
        info = json.loads((data_dir / "synth" / "synth.json").read_text())
        synth_info = {"engines": info.get("engines", {}), "build_wall_s": info.get("wall_s"),
                      "this_run_s": round(time.time() - t0, 1)}
    parts["train_real"] = list(parts["train"])
    parts["train"] = parts["train"] + synth
    for split in SPLITS:
        write_manifest(manifests[split], parts[split], relative=False)  # shared audio stays in place

    hours: dict[str, dict] = {}
    for split, entries in parts.items():
        by_source: dict[str, list[float]] = {}
        for e in entries:
            by_source.setdefault(str(e.extra.get("source")), []).append(e.duration)
        hours[split] = {name: {"utterances": len(d), "hours": round(sum(d) / 3600, 3)} for name, d in by_source.items()}
    done = {"settings": settings, "splits": hours, "synth": synth_info, "text": {
        k: texts[k] for k in ("synth_sentences", "lm_sentences", "held_out_sentences")}}
    _write_json(marker, done)  # last: marks the corpus finished
    log.info("english: %s", _describe(done))
    return manifests


def _describe(done: dict) -> str:
    parts = []
    for split, sources in done["splits"].items():
        n = sum(v["utterances"] for v in sources.values())
        h = sum(v["hours"] for v in sources.values())
        parts.append(f"{split} {n} utt / {h:.2f} h")
    engines = done.get("synth", {}).get("engines", {})
    if engines:
        parts.append("synth by engine: " + ", ".join(f"{n} {v['utterances']} utt / {v['hours']:.2f} h"
                                                     for n, v in engines.items()))
    return "; ".join(parts)


CORPUS = Corpus("english", HELP, EnglishOptions, prepare_english,
                out_flag=PathFlag("--out-dir", "folder for the manifests, text.synth.txt, text.lm.txt and synth/",
                                  required=True),
                source_flag=PathFlag("--data-dir", "the shared real-speech folder (e.g. ../shared/data); "
                                                   "missing sets are skipped with a warning"),
                overwrite_flag=PathFlag("--overwrite", "rebuild the text, the synthetic speech and the manifests"))
