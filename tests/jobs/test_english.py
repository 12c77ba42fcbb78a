"""The english recipe's test stage scoring several test splits one by one (the corpus itself is
tested in tests/data/corpora/test_english.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import data as data_stage
from jobs import test as test_stage

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "jobs" / "english" / "config.yaml"


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    from ds2ray.testing.shared_data import write_shared_english_tree

    return write_shared_english_tree(tmp_path_factory.mktemp("shared"))


def _args(exp: Path, data: Path, **builder) -> list[str]:
    options = {"text_sources": "builtin", "synth_sentences_per_source": 300, "num_workers": 2, **builder}
    return ["--config", str(CONFIG), "--exp-dir", str(exp), "--data", str(data),
            "--set", "data.options=" + json.dumps(options)]


def test_test_stage_scores_each_split_beside_the_references(tmp_path, shared, capsys):
    """An untrained tiny checkpoint stands in for training: the per-split logic is what is tested."""
    from ds2ray.testing.checkpoints import make_untrained_checkpoint

    exp = tmp_path / "exp"
    args = _args(exp, shared, synth_hours=0)
    assert data_stage.main([*args, "--step", "prepare"]) == 0
    (exp / "data" / "manifest.test_alsa.jsonl").write_text("")  # as when alsa_sounds was missing
    ckpt = make_untrained_checkpoint(str(tmp_path / "ckpt"))
    (exp / "train.json").write_text(json.dumps({"checkpoint": ckpt}))
    args = ["--config", str(CONFIG), "--exp-dir", str(exp), "--set", "test.decoders=[greedy]",
            "--set", "test.num_workers=0"]
    capsys.readouterr()
    assert test_stage.main(args) == 0
    out = capsys.readouterr().out
    assert "test_alsa: skipped" in out and "pocketsphinx+speechbrain" in out and "0.857" in out
    summary = json.loads((exp / "test" / "summary.json").read_text())
    splits = summary["splits"]
    assert list(splits) == ["test_speechocean", "test_an4", "test_pocketsphinx", "test_speechbrain"]
    assert [splits[s]["greedy"]["utterances"] for s in splits] == [2, 2, 1, 1]
    assert summary["results"]["greedy"]["utterances"] == 6
    words = sum(splits[s]["greedy"]["word_errors"]["ref_len"] for s in splits)
    assert summary["results"]["greedy"]["word_errors"]["ref_len"] == words
    assert (exp / "test" / "test_an4" / "greedy.jsonl").exists()
    assert test_stage.main(args) == 0  # totals exist: not scored again
    assert "ds2ray test" not in capsys.readouterr().out
