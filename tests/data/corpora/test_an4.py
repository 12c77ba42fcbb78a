"""``ds2ray prepare an4``: download (real HTTP server on 127.0.0.1), checksum, extraction and manifests
from SPHERE audio; a malformed transcript line is named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ds2ray.data.audio import audio_info
from ds2ray.testing.http_server import serve_directory

from .conftest import by_name, make_audio, prepare, tar_dir


AN4_TRAIN = {"an251-fash-b": ("<s> RUBOUT G M E F THREE NINE </s>", "fash"),
             "cen7-fash-b": ("<s> ERASE C Q Q F SEVEN </s>", "fash"),
             "an86-mblb-b": ("<s> YES </s>", "mblb")}
AN4_TEST = {"an406-fcaw-b": ("<s> NO </s>", "fcaw"), "cen8-mjwl-b": ("<s> TWENTY NINETEEN </s>", "mjwl")}


def make_an4(base: Path) -> dict[str, float]:
    durations = {}
    for trans, wav_dir, table in (("an4_train.transcription", "an4_clstk", AN4_TRAIN),
                                  ("an4_test.transcription", "an4test_clstk", AN4_TEST)):
        lines = []
        for utt, (text, spk) in table.items():
            secs = 0.5 + 0.1 * len(durations)
            make_audio(base / "an4/wav" / wav_dir / spk / f"{utt}.sph", secs, seed=len(durations))
            durations[utt] = secs
            lines.append(f"{text} ({utt})")
        (base / "an4/etc").mkdir(parents=True, exist_ok=True)
        (base / "an4/etc" / trans).write_text("\n".join(lines) + "\n")
    return durations


def test_an4_download_extract_and_manifests(tmp_path, capsys):
    durations = make_an4(tmp_path / "src")
    assert audio_info(str(next((tmp_path / "src").rglob("*.sph")))).format == "NIST"
    www = tmp_path / "www"
    www.mkdir()
    archive = tar_dir(www / "an4_sphere.tar.gz", tmp_path / "src", ["an4"])
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = tmp_path / "out"
    with serve_directory(www) as server:
        url = f"{server.url}/an4_sphere.tar.gz"
        assert prepare("an4", "--url", url, "--sha256", "f" * 64, "--out-dir", out) == 2
        assert "checksum mismatch" in capsys.readouterr().err
        assert prepare("an4", "--url", url, "--sha256", sha, "--out-dir", out) == 0
        n_requests = len(server.gets())
        assert prepare("an4", "--url", url, "--out-dir", out) == 0  # re-run: nothing fetched
        assert len(server.gets()) == n_requests == 2
    assert (out / "downloads/an4_sphere.tar.gz").is_file() and (out / "an4/wav/an4_clstk/fash").is_dir()
    train, test = by_name(out / "manifest.train.jsonl"), by_name(out / "manifest.test.jsonl")
    assert set(train) == set(AN4_TRAIN) and set(test) == set(AN4_TEST)
    assert train["an251-fash-b"].text == "rubout g m e f three nine"
    assert test["cen8-mjwl-b"].text == "twenty nineteen" and test["cen8-mjwl-b"].speaker == "mjwl"
    for stem, e in {**train, **test}.items():
        assert e.duration == pytest.approx(durations[stem], abs=1e-3)
    # audio inside --out-dir is stored relative, so the folder can be moved
    first = json.loads((out / "manifest.train.jsonl").read_text().splitlines()[0])
    assert first["audio_filepath"].startswith("an4/wav/an4_clstk/")


def test_malformed_an4_line_names_file_and_line(tmp_path, capsys):
    make_an4(tmp_path / "src")
    trans = tmp_path / "src/an4/etc/an4_test.transcription"
    trans.write_text(trans.read_text() + "<s> MISSING ID </s>\n")
    assert prepare("an4", "--source-dir", tmp_path / "src", "--out-dir", tmp_path / "out") == 2
    assert f"{trans}:3:" in capsys.readouterr().err
