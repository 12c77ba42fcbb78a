"""Corpus builders, run through ``ds2ray prepare`` on tiny trees in each corpus's real layout with
generated audio (FLAC for LibriSpeech, SPHERE for AN4, WAV for AISHELL and VoxForge); downloads go
to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import logging
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ds2ray.cli import main
from ds2ray.data.audio import audio_info
from ds2ray.data.corpora.common import Utterance, split_by_speaker
from ds2ray.data.manifest import read_manifest
from ds2ray.testing.http_server import serve_directory
from ds2ray.testing.signals import speechlike, write_audio


def make_audio(path: Path, seconds: float, sr: int = 16000, seed: int = 0) -> Path:
    return write_audio(path, speechlike(seconds, sr, seed=seed), sr)


def prepare(*argv: str) -> int:
    return main(["prepare", *map(str, argv)])


def by_name(manifest_path: Path, key=lambda p: p.stem) -> dict:
    """Manifest entries keyed by ``key(audio path)`` (unique); every path must resolve to a real file."""
    manifest = read_manifest(manifest_path)
    out = {}
    for e in manifest:
        assert Path(e.audio_filepath).is_file(), e.audio_filepath
        out[key(Path(e.audio_filepath))] = e
    assert len(out) == len(manifest), "duplicate keys"
    return out


def tar_dir(archive: Path, root: Path, members: list[str]) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for m in members:
            tar.add(root / m, arcname=m)
    return archive


# --------------------------------------------------------------------------- LibriSpeech
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


# --------------------------------------------------------------------------- AISHELL
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


# --------------------------------------------------------------------------- AN4
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


# --------------------------------------------------------------------------- VoxForge
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


# --------------------------------------------------------------------------- folder
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


def test_every_corpus_has_help(capsys):
    for name in ("librispeech", "aishell", "voxforge", "an4", "folder"):
        with pytest.raises(SystemExit) as exit_:
            main(["prepare", name, "--help"])
        assert exit_.value.code == 0
        assert "--out-dir" in capsys.readouterr().out


# --------------------------------------------------------------------------- shared pieces
@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=3, max_size=12), dev=st.floats(0.0, 0.45),
       test=st.floats(0.0, 0.45), seed=st.integers(0, 3))
def test_speaker_split_is_disjoint_complete_and_deterministic(sizes, dev, test, seed):
    utts = [Utterance(f"s{s}_{i}.wav", "x", speaker=f"s{s}") for s, n in enumerate(sizes) for i in range(n)]
    fractions = {"dev": dev, "test": test}
    out = split_by_speaker(utts, fractions, seed=seed)
    assert out == split_by_speaker(utts, fractions, seed=seed)
    assert sorted(u.audio_path for us in out.values() for u in us) == sorted(u.audio_path for u in utts)
    speakers = {name: {u.speaker for u in us} for name, us in out.items()}
    names = list(speakers)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not speakers[a] & speakers[b]
    assert out["train"]
    for name, frac in fractions.items():
        assert (name in out and len(out[name]) > 0) == (frac > 0)


def test_malformed_an4_line_names_file_and_line(tmp_path, capsys):
    make_an4(tmp_path / "src")
    trans = tmp_path / "src/an4/etc/an4_test.transcription"
    trans.write_text(trans.read_text() + "<s> MISSING ID </s>\n")
    assert prepare("an4", "--source-dir", tmp_path / "src", "--out-dir", tmp_path / "out") == 2
    assert f"{trans}:3:" in capsys.readouterr().err


# --------------------------------------------------------------------------- FSDD
def test_fsdd_holds_out_one_speaker_and_a_seeded_dev_sample(tmp_path, caplog):
    from ds2ray.data.corpora.fsdd import FsddOptions, prepare_fsdd
    from ds2ray.data.manifest import ManifestEntry, write_manifest

    src = tmp_path / "fsdd"
    entries = []
    for spk in ("george", "jackson", "theo"):
        for digit in range(10):
            path = make_audio(src / "recordings" / f"{digit}_{spk}_0.wav", 0.2, seed=digit)
            entries.append(ManifestEntry(str(path), 0.2, str(digit), speaker=spk))
    write_manifest(src / "manifest.jsonl", entries)
    out = tmp_path / "out"
    manifests = prepare_fsdd(out, src, FsddOptions(dev_fraction=0.25))
    assert manifests == {s: out / f"manifest.{s}.jsonl" for s in ("train", "dev", "test")}
    split = {s: list(read_manifest(p)) for s, p in manifests.items()}
    assert {e.speaker for e in split["test"]} == {"theo"} and len(split["test"]) == 10
    assert len(split["dev"]) == 5 and len(split["train"]) == 15
    assert "theo" not in {e.speaker for e in split["train"] + split["dev"]}
    assert Path(json.loads(manifests["test"].read_text().splitlines()[0])["audio_filepath"]).is_absolute()
    # re-run: kept; the CLI rebuilds with --overwrite and the same seed gives the same dev sample
    stamp = manifests["dev"].stat().st_mtime_ns
    assert prepare("fsdd", "--out-dir", out, "--data-dir", src, "--dev-fraction", "0.25") == 0
    assert manifests["dev"].stat().st_mtime_ns == stamp
    dev = manifests["dev"].read_text()
    assert prepare("fsdd", "--out-dir", out, "--data-dir", src, "--dev-fraction", "0.25", "--overwrite") == 0
    assert manifests["dev"].read_text() == dev
    with pytest.raises(ValueError, match="test_speaker 'nobody'"):
        prepare_fsdd(tmp_path / "out2", src, FsddOptions(test_speaker="nobody"))
