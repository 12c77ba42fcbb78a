"""``fsdd``: one speaker held out for test, a seeded dev sample, re-runs kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ds2ray.data.manifest import read_manifest

from .conftest import make_audio, prepare


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
