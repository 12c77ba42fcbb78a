"""The english recipe's data side on a generated shared-data tree: the splits (the speechocean762 test
subset = every 5th line, dev = the rest), dev/test sentences kept out of the TTS and LM text,
synthetic speech balanced by engine, shared folders that are missing, and the test stage scoring
several test splits one by one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobs import data as data_stage
from jobs import english_data
from jobs import test as test_stage

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "jobs" / "english" / "config.yaml"
SHARED = REPO.parent / "shared" / "data"
needs_tts = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("flite")),
                               reason="espeak-ng and flite not installed (make setup)")


def builtin_sentences(n: int) -> list[str]:
    from ds2ray.data.english_text import builtin_sentences as raw
    from ds2ray.data.english_text import normalize_sentence

    return [normalize_sentence(s) for s, _ in zip(raw(), range(n))]


def _write_set(root: Path, folder: str, manifest: str, texts: list[str], seconds: float = 0.4) -> None:
    from ds2ray.testing.signals import speechlike, write_audio

    d = root / folder
    (d / "wav").mkdir(parents=True, exist_ok=True)
    with open(d / manifest, "a", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            name = f"wav/{Path(manifest).stem}_{i}.wav"
            if not (d / name).exists():
                write_audio(d / name, speechlike(seconds, seed=i))
            row = {"audio_filepath": name, "duration": seconds, "text": text, "speaker": f"s{i % 3}"}
            fh.write(json.dumps(row) + "\n")


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """A tiny tree in the layout of ../shared/data; speechocean762's test half reads built-in sentences."""
    root = tmp_path_factory.mktemp("shared")
    sentences = builtin_sentences(12)
    _write_set(root, "speechocean762", "manifest_train.jsonl", ["we call it bear", "zero three five one",
                                                                "the cat sat on the mat"])
    _write_set(root, "speechocean762", "manifest_test.jsonl", sentences[:10])  # test: lines 0 and 5
    _write_set(root, "fsdd", "manifest.jsonl", ["zero", "one", "two"])
    _write_set(root, "speech_commands", "manifest.jsonl", ["bed", "yes"])
    _write_set(root, "an4", "manifest.jsonl", ["start", sentences[10]])
    _write_set(root, "pocketsphinx", "manifest.jsonl", ["he was not an ill disposed young man"])
    _write_set(root, "speechbrain", "manifest.jsonl", [sentences[11]])
    _write_set(root, "alsa_sounds", "manifest.jsonl", ["front center", "front left"])
    return root


def _args(exp: Path, data: Path, *builder: str) -> list[str]:
    flags = ["--text-sources", "builtin", "--synth-sentences-per-source", "300", "--num-workers", "2", *builder]
    return ["--config", str(CONFIG), "--exp-dir", str(exp), "--data", str(data),
            "--set", "data.args=" + json.dumps(flags)]


def _manifest(exp: Path, split: str) -> list:
    from ds2ray.data.manifest import read_manifest

    return list(read_manifest(str(exp / "data" / f"manifest.{split}.jsonl")))


@pytest.fixture(scope="module")
def english_exp(shared, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("exp")
    args = _args(exp, shared, "--synth-engines", "espeak,flite", "--synth-utterances", "20")
    assert data_stage.main([*args, "--step", "prepare"]) == 0
    return exp


@needs_tts
def test_splits_hold_out_every_fifth_speechocean_test_line(english_exp, shared):
    exp = english_exp
    held = [json.loads(line)["text"] for line in open(shared / "speechocean762" / "manifest_test.jsonl")]
    test = _manifest(exp, "test_speechocean")
    dev = _manifest(exp, "dev")
    assert [e.text for e in test] == [held[0], held[5]]
    assert [e.text for e in dev] == [t for i, t in enumerate(held) if i % 5]
    assert {e.audio_filepath for e in test}.isdisjoint(e.audio_filepath for e in dev)
    train = _manifest(exp, "train")
    sources = [e.extra["source"] for e in train]
    assert sources.count("speechocean762") == 3 and sources.count("fsdd") == 3
    assert sources.count("speech_commands") == 2 and sources.count("synth") == 20
    held_out = [s for s in english_data.SPLITS if s not in ("train", "train_real")]
    held_paths = {e.audio_filepath for s in held_out for e in _manifest(exp, s)}
    assert held_paths.isdisjoint(e.audio_filepath for e in train)
    real = _manifest(exp, "train_real")  # the real part of train, listed again to weigh it twice
    assert [e.audio_filepath for e in real] == [e.audio_filepath for e in train if e.extra["source"] != "synth"]
    for split, n in (("test_an4", 2), ("test_pocketsphinx", 1), ("test_speechbrain", 1), ("test_alsa", 2)):
        assert len(_manifest(exp, split)) == n
    # the shared audio is used in place, by absolute path
    raw = json.loads((exp / "data" / "manifest.test_alsa.jsonl").read_text().splitlines()[0])
    assert raw["audio_filepath"] == str(shared / "alsa_sounds" / "wav" / "manifest_0.wav")


@needs_tts
def test_dev_and_test_sentences_are_not_in_the_tts_or_lm_text(english_exp):
    exp = english_exp
    held = {e.text for s in english_data.SPLITS if s not in ("train", "train_real") for e in _manifest(exp, s)}
    synth_text = set((exp / "data" / "text.synth.txt").read_text().splitlines())
    lm_text = set((exp / "data" / "text.lm.txt").read_text().splitlines())
    assert held and synth_text and lm_text
    assert not held & synth_text and not held & lm_text
    assert not held & {e.text for e in _manifest(exp, "train") if e.extra["source"] == "synth"}
    assert "the cat sat on the mat" in lm_text  # speechocean762's training transcripts join the LM text
    counts = json.loads((exp / "data" / "text.json").read_text())
    assert counts["sources"]["builtin"]["excluded"] == 12  # 10 speechocean test lines + an4 + speechbrain


@needs_tts
def test_synthetic_speech_is_balanced_by_engine(english_exp):
    synth = [e for e in _manifest(english_exp, "train") if e.extra["source"] == "synth"]
    engines = [e.speaker.split(":")[0] for e in synth]
    assert engines.count("espeak") == 10 and engines.count("flite") == 10
    summary = json.loads((english_exp / "data" / "english.json").read_text())
    assert {n: v["utterances"] for n, v in summary["synth"]["engines"].items()} == {"espeak": 10, "flite": 10}


@needs_tts
def test_rerun_skips_finished_work(english_exp, shared, capsys):
    marker = english_exp / "data" / "english.json"
    before = marker.stat().st_mtime_ns
    args = _args(english_exp, shared, "--synth-engines", "espeak,flite", "--synth-utterances", "20")
    assert data_stage.main([*args, "--step", "prepare"]) == 0
    assert "manifests exist" in capsys.readouterr().out and marker.stat().st_mtime_ns == before


def test_missing_shared_folders_are_skipped_with_a_warning(tmp_path, shared, caplog):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "an4").symlink_to(shared / "an4")
    exp = tmp_path / "exp"
    assert data_stage.main([*_args(exp, partial, "--synth-hours", "0"), "--step", "prepare"]) == 0
    assert "speechocean762" in caplog.text and "skipping" in caplog.text
    assert len(_manifest(exp, "test_an4")) == 2
    assert _manifest(exp, "train") == [] and _manifest(exp, "dev") == [] and _manifest(exp, "test_alsa") == []
    exp2 = tmp_path / "exp2"
    assert data_stage.main([*_args(exp2, tmp_path / "absent", "--synth-hours", "0"), "--step", "prepare"]) == 0
    assert all(_manifest(exp2, s) == [] for s in english_data.SPLITS)


def test_test_stage_scores_each_split_beside_the_references(tmp_path, shared, capsys):
    """An untrained tiny checkpoint stands in for training: the per-split logic is what is tested."""
    from ds2ray.testing.tiny import make_tiny_checkpoint

    exp = tmp_path / "exp"
    args = _args(exp, shared, "--synth-hours", "0")
    assert data_stage.main([*args, "--step", "prepare"]) == 0
    (exp / "data" / "manifest.test_alsa.jsonl").write_text("")  # as when alsa_sounds was missing
    ckpt = make_tiny_checkpoint(str(tmp_path / "ckpt"))
    (exp / "train.json").write_text(json.dumps({"checkpoint": ckpt}))
    args = ["--config", str(CONFIG), "--exp-dir", str(exp), "--set", "test.decoders=[greedy]",
            "--set", "test.num_workers=0"]
    capsys.readouterr()
    assert test_stage.main(args) == 0
    out = capsys.readouterr().out
    assert "test_alsa: skipped" in out and "pocketsphinx+speechbrain" in out and "0.857" in out
    summary = json.loads((exp / "test" / "summary.json").read_text())
    splits = summary["splits"]
    assert list(splits) == ["test_speechocean", "test_an4", "test_pocketsphinx", "test_speechbrain"]
    assert [splits[s]["greedy"]["utterances"] for s in splits] == [2, 2, 1, 1]
    assert summary["results"]["greedy"]["utterances"] == 6
    words = sum(splits[s]["greedy"]["word_errors"]["ref_len"] for s in splits)
    assert summary["results"]["greedy"]["word_errors"]["ref_len"] == words
    assert (exp / "test" / "test_an4" / "greedy.jsonl").exists()
    assert test_stage.main(args) == 0  # totals exist: not scored again
    assert "ds2ray test" not in capsys.readouterr().out


@pytest.mark.skipif(not (SHARED / "speechocean762" / "manifest_test.jsonl").is_file(),
                    reason="../shared/data is absent")
def test_real_shared_data_split_counts(tmp_path):
    exp = tmp_path / "exp"
    assert data_stage.main([*_args(exp, SHARED, "--synth-hours", "0"), "--step", "prepare"]) == 0
    counts = {s: len(_manifest(exp, s)) for s in english_data.SPLITS}
    assert counts == {"train": 2500 + 3000 + 300, "train_real": 2500 + 3000 + 300, "dev": 2000, "test_speechocean": 500, "test_an4": 76,
                      "test_pocketsphinx": 12, "test_speechbrain": 14, "test_alsa": 8}
