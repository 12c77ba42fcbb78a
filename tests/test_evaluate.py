"""Evaluation and the test/infer commands on a tiny checkpoint and audio files written here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ds2ray.cli import main
from ds2ray.data.audio import load_audio
from ds2ray.data.manifest import read_manifest
from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, build_decoder
from ds2ray.evaluate import compute_log_probs, evaluate
from ds2ray.metrics import utterance_errors
from ds2ray.testing.signals import speechlike, write_audio
from ds2ray.testing.checkpoints import make_untrained_checkpoint

TEXTS = ["the cat sat", "a dog ran on the mat", "the fish", "my cat ate the fish", "the bowl is on the mat"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny untrained English checkpoint and a manifest of 6 utterances (one is a slice of a file)."""
    tmp = tmp_path_factory.mktemp("eval")
    ckpt = make_untrained_checkpoint(str(tmp / "ckpt"))
    lines = []
    for i, text in enumerate(TEXTS):
        write_audio(tmp / f"u{i}.wav", speechlike(0.5 + 0.25 * i, seed=i))
        lines.append({"audio_filepath": f"u{i}.wav", "duration": 0.5 + 0.25 * i, "text": text.upper() + "!"})
    lines.append({"audio_filepath": "u4.wav", "offset": 0.25, "duration": 1.0, "text": "on the mat"})
    manifest = tmp / "test.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return tmp, ckpt, manifest


@pytest.fixture(scope="module")
def lm(tiny, kenlm):
    tmp, _, manifest = tiny
    out = tmp / "lm.bin"
    assert main(["lm", "build", "--corpus", str(manifest), "--order", "2", "--out", str(out), "--memory", "64M"]) == 0
    return out


@pytest.fixture(scope="module")
def kenlm(kenlm_ready):
    """KenLM's binaries are built (skips otherwise): the shared ``kenlm_ready`` under this file's name."""


def direct_log_probs(ckpt: str, entries) -> list[np.ndarray]:
    from ds2ray.inference.model import load_acoustic_model

    model = load_acoustic_model(ckpt)
    audio = [load_audio(e.audio_filepath, 16000, offset=e.offset, duration=e.duration if e.offset else None)
             for e in entries]
    return model.log_probs(audio)


def test_ray_workers_compute_the_same_log_probs(tiny, ray_session):
    _, ckpt, manifest = tiny
    entries = list(read_manifest(manifest))
    local = compute_log_probs(ckpt, entries, num_workers=0, batch_seconds=1.0)
    on_ray = compute_log_probs(ckpt, entries, num_workers=2, batch_seconds=1.0)
    direct = direct_log_probs(ckpt, entries)
    assert [x.shape for x in local] == [x.shape for x in on_ray] == [x.shape for x in direct]
    for a, b, c in zip(local, on_ray, direct):
        np.testing.assert_allclose(a, b, atol=1e-4)
        np.testing.assert_allclose(a, c, atol=1e-4)
    assert local[5].shape[0] < local[4].shape[0]  # the offset entry is a 1 s slice of a 1.5 s file


def test_evaluate_scores_what_the_decoder_says_worst_first(tiny, tmp_path):
    _, ckpt, manifest = tiny
    entries = list(read_manifest(manifest))
    report = evaluate(ckpt, entries, DecoderConfig(type="greedy"), num_workers=0, progress=False)
    hyps = build_decoder({"type": "greedy"}, Vocabulary.english()).decode_batch(direct_log_probs(ckpt, entries))
    assert [r.hyp for r in report.results] == hyps
    assert report.results[0].ref == "the cat sat"  # references are normalised
    words = chars = 0
    for r in report.results:
        w, c = utterance_errors(r.ref, r.hyp)
        assert (r.word, r.char) == (w, c)
        words += w.errors
        chars += c.errors
    assert report.word.errors == words and report.char.errors == chars
    assert report.wer == pytest.approx(words / sum(len(t.split()) for t in TEXTS + ["on the mat"]))
    out = tmp_path / "res.jsonl"
    report.write_jsonl(str(out), "cer")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rank"] for r in rows] == list(range(1, 7))
    assert [r["cer"] for r in rows] == sorted((r["cer"] for r in rows), reverse=True)
    assert {r["index"] for r in rows} == set(range(6)) and {"ref", "hyp", "word_errors"} <= set(rows[0])
    for row in rows:  # each hypothesis word with its times, in order, inside the utterance
        assert " ".join(w["word"] for w in row["words"]) == row["hyp"]
        times = [0.0] + [t for w in row["words"] for t in (w["start"], w["end"])]
        assert times == sorted(times) and times[-1] <= row["duration"] + 0.02


def test_cli_greedy_then_beam_with_tuned_weights(tiny, lm, tmp_path, capsys):
    _, ckpt, manifest = tiny
    out = tmp_path / "greedy.jsonl"
    assert main(["test", "--checkpoint", ckpt, "--manifest", str(manifest), "--num-workers", "0",
                 "--out", str(out), "--summary-json", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert "decoder: greedy" in printed and "WER: " in printed and "CER: " in printed
    assert "error rate [wer]" in printed and " sub, " in printed
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["utterances"] == 6 and summary["error_rate_type"] == "wer"
    assert len(out.read_text().splitlines()) == 6
    tuned = tmp_path / "best.json"
    tuned.write_text(json.dumps({"alpha": 0.3, "beta": 0.7, "wer": 0.5}))
    assert main(["test", "--checkpoint", ckpt, "--manifest", str(manifest), "--num-workers", "0",
                 "--lm", str(lm), "--tuned", str(tuned), "--beam-size", "8", "--out", str(tmp_path / "b.jsonl")]) == 0
    printed = capsys.readouterr().out
    assert "decoder: beam" in printed and "alpha 0.3, beta 0.7, beam 8" in printed


def test_mandarin_checkpoint_defaults_to_cer(tmp_path, capsys):
    vocab = Vocabulary(tuple("今天气很好"), "zh")
    ckpt = make_untrained_checkpoint(str(tmp_path / "zh"), vocab=vocab)
    write_audio(tmp_path / "a.wav", speechlike(0.8, seed=3))
    manifest = tmp_path / "zh.jsonl"
    line = {"audio_filepath": "a.wav", "duration": 0.8, "text": "今天，天气很好。"}
    manifest.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert main(["test", "--checkpoint", ckpt, "--manifest", str(manifest), "--num-workers", "0",
                 "--out", str(tmp_path / "r.jsonl")]) == 0
    assert "error rate [cer]" in capsys.readouterr().out
    row = json.loads((tmp_path / "r.jsonl").read_text(encoding="utf-8"))
    assert row["ref"] == "今天天气很好" and row["char_errors"]["ref_len"] == 6


def test_infer_shows_samples_and_transcribes_files(tiny, capsys):
    tmp, ckpt, manifest = tiny
    assert main(["infer", "--checkpoint", ckpt, "--manifest", str(manifest), "--num-samples", "2",
                 str(tmp / "u3.wav")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("Target Transcription: ") == 2 and printed.count("Output Transcription: ") == 2
    assert "Target Transcription: the cat sat\n" in printed and "Current error rate [wer] = " in printed
    entries = list(read_manifest(manifest))
    hyp = build_decoder({"type": "greedy"}, Vocabulary.english()).decode(direct_log_probs(ckpt, [entries[3]])[0])
    assert f"{tmp / 'u3.wav'}\t{hyp}\n" in printed
    assert main(["infer", "--checkpoint", ckpt, "--manifest", str(manifest), "--num-samples", "2", "--json",
                 str(tmp / "u3.wav")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ref"] for r in rows] == ["the cat sat", "a dog ran on the mat", ""] and rows[2]["hyp"] == hyp
    assert all(" ".join(w["word"] for w in r["words"]) == r["hyp"] for r in rows)


@pytest.mark.parametrize("extra, message", [
    (["--lm", "{tmp}/missing.bin"], "language model not found"),
    (["--tuned", "{tmp}/bad_tuned.json"], "needs a number in field 'beta'"),
    (["--vocab", "{tmp}/other_vocab.json"], "only in the second: '0'"),
    (["--decoder", "greedy", "--lm", "{tmp}/lm.bin"], "--lm needs --decoder beam"),
])
def test_bad_inputs_fail_with_a_clear_message(tiny, lm, capsys, extra, message):
    tmp, ckpt, manifest = tiny
    (tmp / "bad_tuned.json").write_text(json.dumps({"alpha": 1.0}))
    Vocabulary(Vocabulary.english().chars + ("0",), "en").save(tmp / "other_vocab.json")
    args = ["test", "--checkpoint", ckpt, "--manifest", str(manifest), "--num-workers", "0",
            "--out", str(tmp / "x.jsonl")] + [a.format(tmp=tmp) for a in extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_lm_vocab_mismatch_fails_before_the_acoustic_model(tiny, kenlm, tmp_path, capsys):
    _, ckpt, manifest = tiny
    corpus = tmp_path / "zh.txt"
    corpus.write_text("今天天气很好\n我们出去玩\n", encoding="utf-8")
    assert main(["lm", "build", "--corpus", str(corpus), "--order", "2", "--out", str(tmp_path / "zh.bin"),
                 "--memory", "64M"]) == 0
    assert main(["test", "--checkpoint", ckpt, "--manifest", str(manifest), "--num-workers", "0",
                 "--lm", str(tmp_path / "zh.bin"), "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "characters the vocabulary cannot produce" in err and "今" in err


def test_empty_manifest(tiny, tmp_path, capsys):
    _, ckpt, _ = tiny
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["test", "--checkpoint", ckpt, "--manifest", str(empty), "--num-workers", "0"]) == 2
    assert "no utterances in" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no utterances"):
        evaluate(ckpt, [], DecoderConfig())
