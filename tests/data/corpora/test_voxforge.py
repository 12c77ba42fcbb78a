"""``ds2ray prepare voxforge``: sessions downloaded from a real index page on 127.0.0.1, dialect filter,
speaker-disjoint split."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ds2ray.testing.http_server import serve_directory

from .conftest import by_name, make_audio, prepare, tar_dir


def make_voxforge_session(base: Path, name: str, prompts: dict[str, str], dialect: str,
                          audio: str = "wav") -> Path:
    session = base / name
    lines = []
    for i, (utt, text) in enumerate(prompts.items()):
        make_audio(session / audio / f"{utt}.{audio}", 0.3 + 0.1 * i, seed=i)
        lines.append(f"{name}/mfc/{utt} {text}")
    (session / "etc").mkdir(parents=True)
    (session / "etc/PROMPTS").write_text("\n".join(lines) + "\n")
    (session / "etc/README").write_text(f"User Name:{name.split('-')[0]}\n\nPronunciation dialect: {dialect}\n")
    return session


def test_voxforge_download_from_index_page(tmp_path, caplog):
    staging, www = tmp_path / "staging", tmp_path / "www"
    www.mkdir()
    make_voxforge_session(staging, "Aaron-20080318-kdl", {"b0019": "THE BIRCH CANOE", "b0020": "GLUE-THE SHEET"},
                          "American English")
    make_voxforge_session(staging, "anonymous-20080504-qvg", {"a0001": "IT'S EASY TO TELL"}, "British English",
                          audio="flac")
    for name in ("Aaron-20080318-kdl", "anonymous-20080504-qvg"):
        tar_dir(www / f"{name}.tgz", staging, [name])
    (www / "broken-20090101-xyz.tgz").write_bytes(b"\x1f\x8b not really gzip")
    out = tmp_path / "out"
    with serve_directory(www) as server, caplog.at_level(logging.WARNING):
        # the index is the server's real HTML directory listing
        assert prepare("voxforge", "--base-url", server.url + "/", "--out-dir", out, "--num-workers", "2") == 0
    assert "1 of 3 VoxForge archives failed" in caplog.text and "broken-20090101-xyz.tgz" in caplog.text
    entries = by_name(out / "manifest.all.jsonl")
    assert set(entries) == {"b0019", "b0020", "a0001"}
    assert entries["b0020"].text == "glue the sheet" and entries["a0001"].text == "it's easy to tell"
    assert entries["b0019"].speaker == "Aaron" and entries["a0001"].speaker == "anonymous-20080504-qvg"
    assert entries["b0019"].extra["dialect"] == "american english"
    assert entries["b0020"].duration == pytest.approx(0.4, abs=1e-3)
    assert Path(entries["a0001"].audio_filepath).suffix == ".flac"

    # extracted sessions, a dialect filter and a speaker-disjoint split
    src = out / "audio"
    assert prepare("voxforge", "--source-dir", src, "--out-dir", tmp_path / "am", "--dialects", "american") == 0
    assert set(by_name(tmp_path / "am/manifest.all.jsonl")) == {"b0019", "b0020"}
    assert prepare("voxforge", "--source-dir", src, "--out-dir", tmp_path / "split", "--test-fraction", "0.3") == 0
    train, test = (by_name(tmp_path / f"split/manifest.{s}.jsonl") for s in ("train", "test"))
    assert {e.speaker for e in train.values()}.isdisjoint(e.speaker for e in test.values())
    assert len(train) + len(test) == 3
