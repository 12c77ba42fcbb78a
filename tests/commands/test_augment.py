"""The command line: ``prepare noise|impulse``, ``augment check`` and ``augment preview`` on real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from ds2ray.cli import main
from ds2ray.data.manifest import write_manifest, ManifestEntry
from ds2ray.testing.signals import noise, room_impulse, speechlike, write_audio


@pytest.mark.parametrize("kind", ["noise", "impulse"])
def test_prepare_lists_audio_recursively_and_is_rerunnable(tmp_path, capsys, kind):
    src = tmp_path / "src"
    write_audio(src / "a.wav", noise(0.5, seed=1))
    write_audio(src / "deep" / "b.flac", noise(1.25, seed=2))
    (src / "broken.wav").write_bytes(b"RIFF not really")
    (src / "notes.txt").write_text("ignored")
    out = tmp_path / "lists" / f"manifest.{kind}"
    assert main(["prepare", kind, "--from", str(src), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["audio_filepath"].rsplit("/", 1)[-1], line["duration"], line["text"]) for line in lines] == [
        ("a.wav", 0.5, ""), ("b.flac", 1.25, "")]
    assert "1 unreadable skipped" in capsys.readouterr().out
    # re-run: kept; --force: rebuilt with the new limits
    stamp = out.stat().st_mtime_ns
    assert main(["prepare", kind, "--from", str(src), "--out", str(out)]) == 0
    assert "kept it" in capsys.readouterr().out and out.stat().st_mtime_ns == stamp
    assert main(["prepare", kind, "--from", str(src), "--out", str(out), "--force", "--min-duration", "1"]) == 0
    assert len(out.read_text().splitlines()) == 1


def test_prepare_noise_fails_clearly_on_an_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["prepare", "noise", "--from", str(tmp_path / "empty"), "--out", str(tmp_path / "n.jsonl")]) == 2
    assert "no usable noise audio" in capsys.readouterr().err
    assert not (tmp_path / "n.jsonl").exists()


def test_augment_check_prints_the_full_config_or_names_the_bad_entry(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"type": "shift", "params": {"min_shift_ms": -5, "max_shift_ms": 5}, "prob": 1.0},
                                {"type": "specaugment", "params": {"F": 10, "n_freq_masks": 2}, "prob": 0.5}]))
    assert main(["augment", "check", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[: out.rindex("]") + 1])
    assert printed[1]["params"]["T"] == 0 and printed[1]["params"]["replace_with_zero"] is True
    assert "active stages: waveform, features" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"type": "shift", "params": {"min_shift_ms": 1, "max_shift_ms": 2}, "prob": 1},
                               {"type": "speed", "params": {"rate": 1.1}, "prob": 1}]))
    assert main(["augment", "check", "--config", str(bad)]) == 2
    assert "entry 1 (\"speed\"): unknown parameter 'rate'" in capsys.readouterr().err


def test_augment_preview_writes_wavs_png_and_what_fired(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    entries = []
    for i in range(3):
        path = write_audio(corpus / f"utt{i}.wav", speechlike(1.0 + 0.25 * i, seed=i))
        entries.append(ManifestEntry(str(path), 1.0 + 0.25 * i, f"utterance {i}"))
    write_manifest(corpus / "manifest.jsonl", entries)
    write_audio(tmp_path / "ir" / "room.wav", room_impulse(), subtype="FLOAT")
    assert main(["prepare", "impulse", "--from", str(tmp_path / "ir"), "--out", str(tmp_path / "ir.jsonl")]) == 0
    config = tmp_path / "aug.json"
    config.write_text(json.dumps([
        {"type": "impulse", "params": {"impulse_manifest_path": "ir.jsonl"}, "prob": 1.0},
        {"type": "speed", "params": {"min_speed_rate": 1.1, "max_speed_rate": 1.1}, "prob": 1.0},
        {"type": "specaugment", "params": {"F": 20, "n_freq_masks": 1, "T": 20, "n_time_masks": 1}, "prob": 1.0},
    ]))
    out = tmp_path / "preview"
    assert main(["augment", "preview", "--config", str(config), "--manifest", str(corpus / "manifest.jsonl"),
                 "--out", str(out), "--num", "2", "--feature", "fbank"]) == 0
    report = json.loads((out / "preview.json").read_text())
    assert len(report["items"]) == 2
    for i, item in enumerate(report["items"]):
        original, sr = sf.read(item["original_wav"])
        augmented, sr2 = sf.read(item["augmented_wav"])
        assert sr == sr2 == 16000
        assert abs(len(augmented) - len(original) / 1.1) <= 1  # speed 1.1 fired
        assert [a["type"] for a in item["applied"]] == ["impulse", "speed", "specaugment"]
        assert item["applied"][1]["rate"] == pytest.approx(1.1)
        assert not np.allclose(original[: len(augmented)], augmented)
    png = (out / "preview.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > height > 300  # two rows of side-by-side panels
    assert "spectrograms:" in capsys.readouterr().out


def test_augment_preview_on_real_speech(shared_data, tmp_path):
    manifest = shared_data / "an4" / "manifest.jsonl"
    config = tmp_path / "aug.json"
    config.write_text(json.dumps([{"type": "volume", "params": {"min_gain_dBFS": -6, "max_gain_dBFS": -6},
                                   "prob": 1.0}]))
    assert main(["augment", "preview", "--config", str(config), "--manifest", str(manifest), "--out",
                 str(tmp_path / "p"), "--num", "1", "--seed", "3"]) == 0
    item = json.loads((tmp_path / "p" / "preview.json").read_text())["items"][0]
    original, _ = sf.read(item["original_wav"])
    augmented, _ = sf.read(item["augmented_wav"])
    ratio_db = 20 * np.log10(np.sqrt(np.mean(augmented ** 2)) / np.sqrt(np.mean(original ** 2)))
    assert ratio_db == pytest.approx(-6.0, abs=0.01)
