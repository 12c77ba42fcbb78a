"""The ``english`` corpus on a generated shared-data tree: the splits (the speechocean762 test
subset = every 5th line, dev = the rest), dev/test sentences kept out of the TTS and LM text,
synthetic speech balanced by engine, shared folders that are missing, and re-runs."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from ds2ray.data.corpora.english import SPLITS, EnglishOptions, prepare_english
from ds2ray.testing.shared_data import write_shared_english_tree

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"
needs_tts = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("flite")),
                               reason="espeak-ng and flite not installed (make setup)")


def _options(**builder) -> EnglishOptions:
    return EnglishOptions(text_sources="builtin", synth_sentences_per_source=300, num_workers=2, **builder)


def _manifest(out: Path, split: str) -> list:
    from ds2ray.data.manifest import read_manifest

    return list(read_manifest(str(out / f"manifest.{split}.jsonl")))


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    return write_shared_english_tree(tmp_path_factory.mktemp("shared"))


@pytest.fixture(scope="module")
def english_out(shared, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exp") / "data"
    manifests = prepare_english(out, shared, _options(synth_engines="espeak,flite", synth_utterances=20))
    assert manifests == {s: out / f"manifest.{s}.jsonl" for s in SPLITS}
    return out


@needs_tts
def test_splits_hold_out_every_fifth_speechocean_test_line(english_out, shared):
    out = english_out
    held = [json.loads(line)["text"] for line in open(shared / "speechocean762" / "manifest_test.jsonl")]
    test = _manifest(out, "test_speechocean")
    dev = _manifest(out, "dev")
    assert [e.text for e in test] == [held[0], held[5]]
    assert [e.text for e in dev] == [t for i, t in enumerate(held) if i % 5]
    assert {e.audio_filepath for e in test}.isdisjoint(e.audio_filepath for e in dev)
    train = _manifest(out, "train")
    sources = [e.extra["source"] for e in train]
    assert sources.count("speechocean762") == 3 and sources.count("fsdd") == 3
    assert sources.count("speech_commands") == 2 and sources.count("synth") == 20
    held_out = [s for s in SPLITS if s not in ("train", "train_real")]
    held_paths = {e.audio_filepath for s in held_out for e in _manifest(out, s)}
    assert held_paths.isdisjoint(e.audio_filepath for e in train)
    real = _manifest(out, "train_real")  # the real part of train, listed again to weigh it twice
    assert [e.audio_filepath for e in real] == [e.audio_filepath for e in train if e.extra["source"] != "synth"]
    for split, n in (("test_an4", 2), ("test_pocketsphinx", 1), ("test_speechbrain", 1), ("test_alsa", 2)):
        assert len(_manifest(out, split)) == n
    # the shared audio is used in place, by absolute path
    raw = json.loads((out / "manifest.test_alsa.jsonl").read_text().splitlines()[0])
    assert raw["audio_filepath"] == str(shared / "alsa_sounds" / "wav" / "manifest_0.wav")


@needs_tts
def test_dev_and_test_sentences_are_not_in_the_tts_or_lm_text(english_out):
    out = english_out
    held = {e.text for s in SPLITS if s not in ("train", "train_real") for e in _manifest(out, s)}
    synth_text = set((out / "text.synth.txt").read_text().splitlines())
    lm_text = set((out / "text.lm.txt").read_text().splitlines())
    assert held and synth_text and lm_text
    assert not held & synth_text and not held & lm_text
    assert not held & {e.text for e in _manifest(out, "train") if e.extra["source"] == "synth"}
    assert "the cat sat on the mat" in lm_text  # speechocean762's training transcripts join the LM text
    counts = json.loads((out / "text.json").read_text())
    assert counts["sources"]["builtin"]["excluded"] == 12  # 10 speechocean test lines + an4 + speechbrain


@needs_tts
def test_synthetic_speech_is_balanced_by_engine(english_out):
    synth = [e for e in _manifest(english_out, "train") if e.extra["source"] == "synth"]
    engines = [e.speaker.split(":")[0] for e in synth]
    assert engines.count("espeak") == 10 and engines.count("flite") == 10
    summary = json.loads((english_out / "english.json").read_text())
    assert {n: v["utterances"] for n, v in summary["synth"]["engines"].items()} == {"espeak": 10, "flite": 10}


@needs_tts
def test_rerun_skips_finished_work(english_out, shared, caplog):
    marker = english_out / "english.json"
    before = marker.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="ds2ray.data.corpora.english"):
        prepare_english(english_out, shared, _options(synth_engines="espeak,flite", synth_utterances=20))
    assert "manifests exist" in caplog.text and marker.stat().st_mtime_ns == before


def test_missing_shared_folders_are_skipped_with_a_warning(tmp_path, shared, caplog):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "an4").symlink_to(shared / "an4")
    out = tmp_path / "exp" / "data"
    prepare_english(out, partial, _options(synth_hours=0))
    assert "speechocean762" in caplog.text and "skipping" in caplog.text
    assert len(_manifest(out, "test_an4")) == 2
    assert _manifest(out, "train") == [] and _manifest(out, "dev") == [] and _manifest(out, "test_alsa") == []
    out2 = tmp_path / "exp2" / "data"
    prepare_english(out2, tmp_path / "absent", _options(synth_hours=0))
    assert all(_manifest(out2, s) == [] for s in SPLITS)


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match=r"EnglishOptions\.test_every \(--test-every\) must be >= 2"):
        EnglishOptions(test_every=1)
    with pytest.raises(ValueError, match=r"EnglishOptions\.max_words"):
        EnglishOptions(min_words=5, max_words=4)


@pytest.mark.skipif(not (SHARED / "speechocean762" / "manifest_test.jsonl").is_file(),
                    reason="../shared/data is absent")
def test_real_shared_data_split_counts(tmp_path):
    out = tmp_path / "exp" / "data"
    prepare_english(out, SHARED, _options(synth_hours=0))
    counts = {s: len(_manifest(out, s)) for s in SPLITS}
    assert counts == {"train": 2500 + 3000 + 300, "train_real": 2500 + 3000 + 300, "dev": 2000,
                      "test_speechocean": 500, "test_an4": 76, "test_pocketsphinx": 12, "test_speechbrain": 14,
                      "test_alsa": 8}
