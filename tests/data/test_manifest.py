import json
from pathlib import Path

import pytest

from ds2ray.data.manifest import ManifestEntry, ManifestError, read_manifest, write_manifest


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_round_trip_keeps_extra_keys_and_resolves_relative_paths(tmp_path):
    m = _write_lines(tmp_path / "m.jsonl", [
        json.dumps({"audio_filepath": "a/x.wav", "duration": 1.5, "text": "hi", "speaker": "s1", "lang": "en"}),
        json.dumps({"audio_filepath": "/abs/y.wav", "duration": 2, "text": "yo", "offset": 0.5}),
        json.dumps({"audio_filepath": "s3://bucket/z.flac", "duration": 3.0, "text": "z"}),
    ])
    man = read_manifest(m)
    assert [e.audio_filepath for e in man] == [str(tmp_path / "a/x.wav"), "/abs/y.wav", "s3://bucket/z.flac"]
    assert man[0].speaker == "s1" and man[0].extra == {"lang": "en"}
    assert man[1].offset == 0.5
    out = tmp_path / "sub" / "out.jsonl"
    write_manifest(out, man.entries)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["lang"] == "en" and rows[0]["speaker"] == "s1"
    assert [e.audio_filepath for e in read_manifest(out)] == [e.audio_filepath for e in man]


def test_url_manifest_resolves_against_its_folder():
    entry = ManifestEntry.from_dict({"audio_filepath": "../w/a.wav", "duration": 1, "text": "a"}, "s3://b/p/q")
    assert entry.audio_filepath == "s3://b/p/w/a.wav"


def test_duration_filter_counts(tmp_path):
    m = _write_lines(tmp_path / "m.jsonl", [
        json.dumps({"audio_filepath": f"{i}.wav", "duration": d, "text": "t"}) for i, d in enumerate([0.5, 1, 5, 20])
    ])
    man = read_manifest(m, min_duration=1.0, max_duration=10.0)
    assert [e.duration for e in man] == [1.0, 5.0]
    assert man.filtered_out == 2


@pytest.mark.parametrize("bad, reason", [
    ('{"audio_filepath": "a.wav", "duration": 1.0, "text": "x"', "invalid JSON"),
    ('{"audio_filepath": "a.wav", "text": "x"}', "missing key"),
    ('{"audio_filepath": "a.wav", "duration": "long", "text": "x"}', "'duration' must be a finite number"),
    ('{"audio_filepath": "a.wav", "duration": -1, "text": "x"}', "must be > 0"),
    ('{"audio_filepath": "a.wav", "duration": 1, "text": 5}', "'text' must be a string"),
    ('[1, 2]', "expected a JSON object"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad, reason):
    good = json.dumps({"audio_filepath": "a.wav", "duration": 1.0, "text": "ok"})
    m = _write_lines(tmp_path / "m.jsonl", [good, "", bad, good])
    with pytest.raises(ManifestError) as err:
        read_manifest(m)
    assert f"{m}:3:" in str(err.value) and reason in str(err.value) and "--skip-bad" in str(err.value)
    man = read_manifest(m, skip_bad=True)
    assert len(man) == 2 and len(man.bad_lines) == 1 and ":3:" in man.bad_lines[0]


def test_missing_manifest_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest(tmp_path / "nope.jsonl")


def test_cli_skip_bad_reports_count(tmp_path, capsys):
    from ds2ray.cli import main

    m = _write_lines(tmp_path / "m.jsonl", ['{"audio_filepath": "a.wav", "duration": 1, "text": "a"}', "{oops"])
    assert main(["manifest", "--manifest", str(m)]) == 2
    assert f"{m}:2" in capsys.readouterr().err
    assert main(["manifest", "--manifest", str(m), "--skip-bad"]) == 0
    assert "1 malformed line(s) skipped" in capsys.readouterr().out


def test_every_shared_manifest_reads(shared_data):
    from ds2ray.data.audio import load_audio

    manifests = sorted(shared_data.glob("*/manifest.jsonl"))
    assert manifests, "shared data present but has no manifests"
    total = 0
    for path in manifests:
        man = read_manifest(path)
        assert len(man) > 0
        for entry in man:
            audio = load_audio(entry.audio_filepath, 16000)
            assert abs(len(audio) / 16000 - entry.duration) < 0.05, entry.audio_filepath
            total += 1
    assert total > 100
