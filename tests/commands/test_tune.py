"""``ds2ray tune`` end to end: tiny checkpoint, real WAV files, real KenLM; then ``ds2ray test`` reads the
best.json it wrote. And the command's errors for a missing LM and an empty dev set.

The command runs with ``--engine plain`` here: Ray Tune start-up costs 10-20 s on a busy 2-core
machine, and tests/tune/test_search.py already checks the Ray Tune engine (from an object ref, as the
command passes it) point for point against the plain loop."""

from __future__ import annotations

import csv
import json

import pytest

from ds2ray.cli import main
from ds2ray.data.english_text import builtin_sentences
from ds2ray.data.manifest import ManifestEntry, write_manifest
from ds2ray.testing.signals import speechlike, write_audio


@pytest.fixture(scope="module")
def dev_set(tmp_path_factory):
    """A tiny untrained checkpoint and a 5-utterance manifest of written WAV files."""
    from ds2ray.testing.checkpoints import make_untrained_checkpoint

    tmp = tmp_path_factory.mktemp("tune_cli")
    ckpt = make_untrained_checkpoint(str(tmp / "ckpt"))
    entries = []
    for i, text in enumerate(list(builtin_sentences())[:5]):
        path = write_audio(tmp / f"utt{i}.wav", speechlike(0.6 + 0.1 * i, seed=i))
        entries.append(ManifestEntry(str(path), 0.6 + 0.1 * i, text))
    write_manifest(tmp / "dev.jsonl", entries)
    (tmp / "empty.jsonl").write_text("")
    return tmp, ckpt


def test_tune_command_writes_points_surface_and_a_best_json_test_reads(dev_set, tune_data, capsys):
    tmp, ckpt = dev_set
    out = tmp / "out"
    code = main(["tune", "--model_path", ckpt, "--tune_manifest", str(tmp / "dev.jsonl"), "--lm", tune_data.lm_path,
                 "--alpha-from", "0.5", "--alpha-to", "1.5", "--num-alphas", "2", "--beta_from", "0.0",
                 "--beta_to", "1.0", "--num_betas", "2", "--num-batches", "1", "--batch-size", "3",
                 "--beam-size", "8", "--engine", "plain", "--acoustic-workers", "0", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "acoustic model:" in printed and "on 3 utterances" in printed  # --num-batches 1 x --batch-size 3
    assert sum("ETA" in line for line in printed.splitlines()) == 4
    rows = list(csv.DictReader(open(out / "points.csv")))
    assert [(float(r["alpha"]), float(r["beta"])) for r in rows] == [(0.5, 0.0), (0.5, 1.0), (1.5, 0.0), (1.5, 1.0)]
    best = json.load(open(out / "best.json"))
    assert best["num_utterances"] == 3 and best["beam_width"] == 8
    assert min(rows, key=lambda r: (int(r["word_errors"]), int(r["char_errors"]), float(r["alpha"]),
                                    float(r["beta"])))["alpha"] == str(best["alpha"])
    assert (out / "error_surface.png").read_bytes()[:4] == b"\x89PNG"

    code = main(["test", "--checkpoint", ckpt, "--manifest", str(tmp / "dev.jsonl"), "--tuned", str(out / "best.json"),
                 "--num-workers", "0", "--out", str(tmp / "test.jsonl")])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"alpha {best['alpha']}, beta {best['beta']}, beam 8" in printed and tune_data.lm_path in printed


def test_tune_command_errors(dev_set, tune_data, capsys):
    tmp, ckpt = dev_set
    common = ["--alpha-from", "0.5", "--alpha-to", "1.0", "--num-alphas", "2", "--num-betas", "2",
              "--engine", "plain", "--acoustic-workers", "0", "--out", str(tmp / "err")]
    code = main(["tune", "--checkpoint", ckpt, "--manifest", str(tmp / "empty.jsonl"), "--lm", tune_data.lm_path,
                 *common])
    assert code == 2 and "the dev set is empty: no utterances in" in capsys.readouterr().err
    code = main(["tune", "--checkpoint", ckpt, "--manifest", str(tmp / "dev.jsonl"), "--lm", str(tmp / "no_lm.bin"),
                 *common])
    err = capsys.readouterr().err
    assert code == 2 and f"language model not found: {tmp / 'no_lm.bin'}" in err and "ds2ray lm build" in err
    # --lm is required unless the checkpoint is a shipped model (which brings its own LM)
    assert main(["tune", "--checkpoint", ckpt, "--manifest", str(tmp / "dev.jsonl")]) == 2
    assert "give the language model to tune with --lm" in capsys.readouterr().err
