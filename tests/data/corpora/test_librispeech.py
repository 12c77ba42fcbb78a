"""``ds2ray prepare librispeech`` on a tiny extracted tree (FLAC), re-runs, and a download from a
real HTTP server on 127.0.0.1 checked against the official md5."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ds2ray.testing.http_server import serve_directory

from .conftest import by_name, make_audio, prepare, tar_dir


def make_librispeech(root: Path) -> dict[str, float]:
    """Two parts; one transcript line without audio; one corrupt FLAC. Returns stem -> seconds."""
    durations = {}
    layout = {
        "dev-clean": {("84", "121123"): ["HELLO WORLD'S END", "A  SECOND   LINE"], ("174", "50561"): ["THIRD ONE"]},
        "test-clean": {("1089", "134686"): ["HE HOPED THERE WOULD BE STEW FOR DINNER"]},
    }
    for part, chapters in layout.items():
        for (spk, chap), texts in chapters.items():
            folder = root / "LibriSpeech" / part / spk / chap
            lines = []
            for i, text in enumerate(texts):
                utt = f"{spk}-{chap}-{i:04d}"
                secs = 0.4 + 0.15 * len(durations)
                make_audio(folder / f"{utt}.flac", secs, seed=len(durations))
                durations[utt] = secs
                lines.append(f"{utt} {text}")
            if part == "dev-clean" and spk == "84":
                lines.append(f"{spk}-{chap}-0099 NO AUDIO FOR THIS LINE")
                lines.append(f"{spk}-{chap}-0100 BROKEN FLAC")
                (folder / f"{spk}-{chap}-0100.flac").write_bytes(b"fLaC" + b"\0" * 50)
            (folder / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return durations


def test_librispeech_from_extracted_tree(tmp_path, caplog):
    durations = make_librispeech(tmp_path / "src")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert prepare("librispeech", "--source-dir", tmp_path / "src", "--out-dir", out) == 0
    assert sorted(p.name for p in out.glob("manifest.*.jsonl")) == ["manifest.dev-clean.jsonl",
                                                                   "manifest.test-clean.jsonl"]
    dev = by_name(out / "manifest.dev-clean.jsonl")
    assert sorted(dev) == ["174-50561-0000", "84-121123-0000", "84-121123-0001"]
    assert dev["84-121123-0000"].text == "hello world's end"
    assert dev["84-121123-0001"].text == "a second line"
    assert {k: e.speaker for k, e in dev.items()} == {"174-50561-0000": "174", "84-121123-0000": "84",
                                                      "84-121123-0001": "84"}
    for k, e in dev.items():
        assert e.duration == pytest.approx(durations[k], abs=1e-3)
    test = by_name(out / "manifest.test-clean.jsonl")
    assert list(test) == ["1089-134686-0000"] and test["1089-134686-0000"].text.startswith("he hoped")
    assert "1 unreadable audio file(s) skipped" in caplog.text and "84-121123-0100.flac" in caplog.text
    assert "1 transcript line(s) without audio" in caplog.text

    # re-run: finished manifests are kept as they are; --overwrite rebuilds them
    (tmp_path / "src/LibriSpeech/dev-clean/174/50561/174-50561-0000.flac").unlink()
    before = (out / "manifest.dev-clean.jsonl").read_text()
    assert prepare("librispeech", "--source-dir", tmp_path / "src", "--out-dir", out) == 0
    assert (out / "manifest.dev-clean.jsonl").read_text() == before
    assert prepare("librispeech", "--source-dir", tmp_path / "src/LibriSpeech", "--out-dir", out,
                   "--parts", "dev-clean", "--overwrite") == 0
    assert sorted(by_name(out / "manifest.dev-clean.jsonl")) == ["84-121123-0000", "84-121123-0001"]


def test_librispeech_download_verifies_the_official_md5(tmp_path, capsys):
    """A mirror serving a different dev-clean.tar.gz is caught by the published md5."""
    make_librispeech(tmp_path / "src")
    www = tmp_path / "www"
    (www / "resources/12").mkdir(parents=True)
    tar_dir(www / "resources/12/dev-clean.tar.gz", tmp_path / "src", ["LibriSpeech/dev-clean"])
    with serve_directory(www) as server:
        rc = prepare("librispeech", "--parts", "dev-clean", "--mirror", server.url, "--out-dir", tmp_path / "out")
        assert server.gets() and server.gets()[0][1] == "/resources/12/dev-clean.tar.gz"
    assert rc == 2
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "42e2234ba48799c1f50f24a7926300a1" in err
    assert not (tmp_path / "out/LibriSpeech").exists() and not list((tmp_path / "out").glob("manifest.*"))
