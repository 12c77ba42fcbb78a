"""A tiny synthetic corpus (espeak-ng, short phrases) and TrainJob factory for the training tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PHRASES = """yes
no
go
stop
go left
turn right
up
down
on
off
one two
three four
red
blue
green light
open the door
close it
wait here
come back
good night
"""


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> dict[str, str]:
    """train/dev manifests of ~1 s utterances, plus ``corrupt``: train + one unreadable file."""
    from ds2ray.data.corpora.synth import SynthConfig, synthesize_corpus

    out = tmp_path_factory.mktemp("tiny_corpus")
    text = out / "phrases.txt"
    text.write_text(PHRASES)
    cfg = SynthConfig(text=str(text), num_utterances=48, hours=None, dev_fraction=0.15, test_fraction=0.05,
                      heldout_timbres=1, seed=3)
    manifests = synthesize_corpus(cfg, out, num_workers=2, progress=False)
    bad = out / "wav" / "corrupt.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk-not-audio" * 4)
    lines = Path(manifests["train"]).read_text().splitlines()
    corrupt_entry = json.dumps({"audio_filepath": "wav/corrupt.wav", "duration": 1.0, "text": "go"})
    (out / "manifest.corrupt.jsonl").write_text("\n".join(lines[:10] + [corrupt_entry] + lines[10:]) + "\n")
    return {**manifests, "corrupt": str(out / "manifest.corrupt.jsonl")}


@pytest.fixture(scope="session")
def tiny_stats(tiny_corpus):
    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.normalizer import compute_mean_std
    from ds2ray.model.config import get_preset

    entries = read_manifest([tiny_corpus["train"]]).entries
    return compute_mean_std(entries, get_preset("tiny").features, num_samples=20, num_workers=1, progress=False)


@pytest.fixture
def make_job(tiny_corpus, tiny_stats, tmp_path):
    """``make_job(**TrainConfig fields)`` -> a TrainJob for the tiny preset on the tiny corpus."""
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.model.config import get_preset
    from ds2ray.train.config import TrainConfig
    from ds2ray.train.trainer import build_job

    def make(**overrides):
        preset = get_preset("tiny")
        fields = dict(train_manifests=(tiny_corpus["train"],), dev_manifests=(tiny_corpus["dev"],), epochs=2,
                      batch_frames=800, storage_path=str(tmp_path / "runs"), run_name="t", log_every_steps=1,
                      loader_workers=0, lr=3e-3)
        cfg = TrainConfig(**{**fields, **overrides})
        return build_job(cfg, preset.model, preset.features, Vocabulary.english(), tiny_stats)

    return make

