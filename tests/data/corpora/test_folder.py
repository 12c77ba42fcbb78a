"""``ds2ray prepare folder``: recordings with sidecar transcripts or transcript tables, speaker splits."""

from __future__ import annotations

import logging

import pytest

from .conftest import by_name, make_audio, prepare


def test_folder_with_sidecars_and_speaker_split(tmp_path, caplog):
    src = tmp_path / "rec"
    for s in range(5):
        for i in range(3):
            make_audio(src / f"spk{s}" / f"u{i}.wav", 0.25 + 0.05 * i, seed=s * 3 + i)
            (src / f"spk{s}" / f"u{i}.{'lab' if s == 4 else 'txt'}").write_text(f"Hello, Speaker {s}! Take {i}.\n")
    make_audio(src / "spk0/untranscribed.wav", 0.2)
    (src / "spk0/orphan.txt").write_text("no audio for me")
    (src / "spk1/zero.wav").write_bytes(b"")
    (src / "spk1/zero.txt").write_text("empty audio file")
    out = tmp_path / "out"
    argv = ["folder", "--source-dir", src, "--out-dir", out, "--speaker-from-dir",
            "--dev-fraction", "0.2", "--test-fraction", "0.2", "--seed", "3"]
    with caplog.at_level(logging.INFO):
        assert prepare(*argv) == 0
    assert "1 recording(s) without a transcript" in caplog.text
    assert "1 transcript(s) without a recording" in caplog.text
    assert "1 unreadable audio file(s) skipped" in caplog.text and "zero.wav" in caplog.text
    splits = {s: by_name(out / f"manifest.{s}.jsonl", key=str) for s in ("train", "dev", "test")}
    spk = {s: {e.speaker for e in es.values()} for s, es in splits.items()}
    assert len(spk["dev"]) == 1 and len(spk["test"]) == 1 and len(spk["train"]) == 3
    assert not (spk["train"] & spk["dev"]) and not (spk["train"] & spk["test"]) and not (spk["dev"] & spk["test"])
    everything = {e.audio_filepath: e for es in splits.values() for e in es.values()}
    assert len(everything) == 15
    e = everything[str(src / "spk4/u2.wav")]
    assert e.text == "hello speaker 4 take 2" and e.duration == pytest.approx(0.35, abs=1e-3)
    # same seed, same split
    assert prepare(*argv[:4], tmp_path / "again", *argv[5:]) == 0
    assert (tmp_path / "again/manifest.test.jsonl").read_text() == (out / "manifest.test.jsonl").read_text()


def test_folder_with_transcript_tables(tmp_path, caplog):
    src = tmp_path / "rec"
    make_audio(src / "a/one.wav", 0.3)
    make_audio(src / "b/two.flac", 0.4)
    make_audio(src / "three.ogg", 0.5)
    (src / "transcripts.tsv").write_text(
        "filename\ttext\n"
        "a/one.wav\t今天 天气 很好\n"
        "two\t我们 去 公园\n"                     # by stem
        "ghost.wav\t没有 录音\n", encoding="utf-8")  # no such recording
    with caplog.at_level(logging.WARNING):
        assert prepare("folder", "--source-dir", src, "--out-dir", tmp_path / "tsv") == 0
    entries = by_name(tmp_path / "tsv/manifest.all.jsonl")
    assert {k: e.text for k, e in entries.items()} == {"one": "今天天气很好", "two": "我们去公园"}
    assert entries["two"].duration == pytest.approx(0.4, abs=1e-3)
    assert "1 recording(s) without a transcript" in caplog.text  # three.ogg
    assert "1 transcript(s) without a recording" in caplog.text and "ghost.wav" in caplog.text

    table = tmp_path / "list.csv"
    table.write_text('three.ogg,"Well, it works"\na/one.wav,First one\n')
    assert prepare("folder", "--source-dir", src, "--out-dir", tmp_path / "csv", "--transcripts", table,
                   "--language", "en") == 0
    entries = by_name(tmp_path / "csv/manifest.all.jsonl")
    assert {k: e.text for k, e in entries.items()} == {"three": "well it works", "one": "first one"}
    assert entries["three"].speaker is None


def test_too_few_speakers_for_a_split_is_a_clear_error(tmp_path, capsys):
    src = tmp_path / "rec"
    make_audio(src / "alice/a.wav", 0.2)
    (src / "alice/a.txt").write_text("hi")
    rc = prepare("folder", "--source-dir", src, "--out-dir", tmp_path / "out", "--speaker-from-dir",
                 "--test-fraction", "0.5")
    assert rc == 2 and "1 speaker(s) cannot make speaker-disjoint splits" in capsys.readouterr().err
