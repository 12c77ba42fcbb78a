"""``ds2ray prepare aishell`` on a tiny tree of per-speaker archives (WAV), as the real corpus ships."""

from __future__ import annotations

import logging

import pytest

from .conftest import by_name, make_audio, prepare, tar_dir


def test_aishell_with_per_speaker_archives(tmp_path, caplog):
    root = tmp_path / "src/data_aishell"
    speakers = {"train": ["S0002", "S0003"], "dev": ["S0724"], "test": ["S0764"]}
    transcript = []
    staging = tmp_path / "staging"
    for split, spks in speakers.items():
        for spk in spks:
            for i in range(2):
                utt = f"BAC009{spk}W{i + 121:04d}"
                make_audio(staging / spk / split / spk / f"{utt}.wav", 0.3 + 0.1 * i, seed=i)
                transcript.append(f"{utt} 而 对 楼市 成交 抑制 作用 最 大 的 限 购")
            # the real archive ships wav/<speaker>.tar.gz holding <split>/<speaker>/<utt>.wav
            (root / "wav").mkdir(parents=True, exist_ok=True)
            tar_dir(root / "wav" / f"{spk}.tar.gz", staging / spk, [f"{split}/{spk}"])
    make_audio(staging / "extra/train/S0003/BAC009S0003W9999.wav", 0.2)  # audio without a transcript
    tar_dir(root / "wav/S0003x.tar.gz", staging / "extra", ["train/S0003/BAC009S0003W9999.wav"])
    (root / "transcript").mkdir()
    (root / "transcript/aishell_transcript_v0.8.txt").write_text("\n".join(transcript) + "\n", encoding="utf-8")

    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert prepare("aishell", "--source-dir", tmp_path / "src", "--out-dir", out, "--num-workers", "2") == 0
    assert (root / "wav/train/S0002/BAC009S0002W0121.wav").is_file()
    assert (root / "wav/.S0002.tar.gz.extracted").is_file()
    for split, spks in speakers.items():
        entries = by_name(out / f"manifest.{split}.jsonl")
        assert len(entries) == 2 * len(spks)
        assert {e.speaker for e in entries.values()} == set(spks)
        for stem, e in entries.items():
            assert e.text == "而对楼市成交抑制作用最大的限购"
            assert e.duration == pytest.approx(0.3 + 0.1 * (int(stem[-4:]) - 121), abs=1e-3)
    assert "1 AISHELL audio file(s) have no transcript" in caplog.text
