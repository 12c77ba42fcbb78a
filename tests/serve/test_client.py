"""``ds2ray transcribe --checkpoint CK`` in this process: any length, every format, --out, bad input exit 2."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf


def test_local_transcribe_writes_every_format_and_names_bad_files(overfit_model, tmp_path, capsys):
    from ds2ray.cli import main

    parts = []
    for wave in overfit_model.waves:
        parts += [wave, np.zeros(20000, np.float32)]  # the overfit model knows only clean audio
    audio = np.concatenate(parts)
    good = tmp_path / "talk.wav"
    sf.write(good, audio, 16000, subtype="PCM_16")
    ck = ["--checkpoint", overfit_model.checkpoint, "--decoder", "greedy", "--backend", "torch"]

    assert main(["transcribe", str(good), *ck, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["file"] == str(good) and data["text"] == " ".join(overfit_model.texts)
    assert [s["text"] for s in data["segments"]] == list(overfit_model.texts) and data["decoder"] == "greedy"
    assert data["words"] == [w for s in data["segments"] for w in s["words"]]
    assert data["duration"] == round(len(audio) / 16000, 3)

    out = tmp_path / "talk.vtt"
    assert main(["transcribe", str(good), *ck, "--format", "vtt", "--out", str(out)]) == 0
    vtt = out.read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.") and vtt.count(" --> ") == 3 and overfit_model.texts[1] in vtt

    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    folder = tmp_path / "subs"
    assert main(["transcribe", str(cut), str(good), *ck, "--format", "srt", "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{cut}: error: {cut}: truncated or damaged" in err  # exit 2, the file named, the others still done
    assert sorted(p.name for p in folder.iterdir()) == ["talk.srt"]
    assert (folder / "talk.srt").read_text().startswith("1\n00:00:00,")


def test_local_transcribe_hotwords(overfit_model, tmp_path, capsys):
    """``--hotwords`` reaches the local beam search (a heavy boost changes the text as the library's
    decoder does), and greedy decoding with hotwords is refused."""
    from ds2ray.cli import main
    from ds2ray.transcribe import load_recognizer

    path = tmp_path / "gate.wav"
    sf.write(path, overfit_model.waves[0], 16000, subtype="PCM_16")
    ck = ["--checkpoint", overfit_model.checkpoint, "--decoder", "beam"]
    assert main(["transcribe", str(path), *ck]) == 0
    assert capsys.readouterr().out.strip().split("\t")[1] == overfit_model.texts[0]
    assert main(["transcribe", str(path), *ck, "--hotwords", "gale:40"]) == 0
    boosted = capsys.readouterr().out.strip().split("\t")[1]
    rec = load_recognizer(overfit_model.checkpoint, decoder="beam", hotwords="gale:40")
    assert boosted == rec.transcribe(overfit_model.waves[0]) != overfit_model.texts[0]
    assert main(["transcribe", str(path), "--checkpoint", overfit_model.checkpoint, "--decoder", "greedy",
                 "--hotwords", "gale"]) == 2
    assert "hotwords" in capsys.readouterr().err
