"""Shipped models by name: lookup, the missing-name error, and ``--checkpoint en`` in every entry point."""

from __future__ import annotations

import json
import os

import pytest

from ds2ray.data.audio import audio_info
from ds2ray.model.checkpoint import CheckpointError, load_checkpoint, model_file
from ds2ray.pretrained import (PretrainedNotFoundError, available, decoder_defaults, find, get, resolve_checkpoint,
                               search_path)


def test_a_missing_name_says_which_models_exist(packed_greedy, use_store):
    use_store(packed_greedy)
    assert available() == ["en"] and search_path()[0] == packed_greedy
    with pytest.raises(PretrainedNotFoundError, match=r"no shipped model 'xx'; available: en"):
        get("xx")
    with pytest.raises(CheckpointError, match=r"no shipped model 'xx'; available: en"):
        load_checkpoint("xx")
    assert find("xx") is None and decoder_defaults("xx") is None


def test_a_missing_name_fails_the_commands_with_that_message(overfit_model, packed_greedy, use_store, capsys):
    from ds2ray.cli import main

    use_store(packed_greedy)
    wav = os.path.join(os.path.dirname(overfit_model.checkpoint), "utt0.wav")
    assert main(["infer", "--checkpoint", "fr", wav]) == 2
    assert "no shipped model 'fr'; available: en" in capsys.readouterr().err
    assert main(["transcribe", "--checkpoint", "fr", wav]) == 2
    assert "no shipped model 'fr'; available: en" in capsys.readouterr().err


def test_paths_and_urls_are_not_names(packed_greedy, use_store, tmp_path, monkeypatch):
    use_store(packed_greedy)
    assert resolve_checkpoint("s3://bucket/ck") == "s3://bucket/ck"
    assert resolve_checkpoint("runs/demo/best") == "runs/demo/best"
    assert model_file("ck/model.pt") == "ck/model.pt"
    assert resolve_checkpoint("en") == str(packed_greedy / "en")
    # a checkpoint folder called "en" in the working directory wins over the shipped model
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "model.pt").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint("en") == "en" and find("en") is None


def test_load_by_name_and_transcribe(overfit_model, packed_greedy, use_store, capsys):
    from ds2ray.cli import main
    from ds2ray.transcribe import load_recognizer

    use_store(packed_greedy)
    data = load_checkpoint("en")
    assert data.path == str(packed_greedy / "en" / "model.pt")
    rec = load_recognizer("en")
    assert rec.decoder.config.type == "greedy"  # no LM in this model folder
    assert rec.transcribe_batch(list(overfit_model.waves), 16000) == list(overfit_model.texts)
    wav = os.path.join(os.path.dirname(overfit_model.checkpoint), "utt1.wav")  # espeak-ng's own 22 kHz file
    assert rec.transcribe_file(wav) == overfit_model.texts[1]

    assert main(["infer", "--checkpoint", "en", wav]) == 0
    assert capsys.readouterr().out.strip() == f"{wav}\t{overfit_model.texts[1]}"
    assert main(["transcribe", "--local", "--json", wav]) == 0  # the default model is en
    out = json.loads(capsys.readouterr().out)
    assert (out["text"], out["checkpoint"], out["decoder"]) == (overfit_model.texts[1], "en", "greedy")
    assert " ".join(w["word"] for w in out["words"]) == out["text"]
    assert 0 <= out["words"][0]["start"] < out["words"][-1]["end"] <= audio_info(wav).duration


def test_shipped_lm_and_tuned_decode_by_default(overfit_model, packed_with_lm, use_store, lm_files, tmp_path):
    from ds2ray.decode.options import decoder_config_for

    use_store(packed_with_lm)
    folder = packed_with_lm / "en"
    cfg = decoder_config_for("en")
    assert (cfg.type, cfg.lm_path, cfg.alpha, cfg.beta, cfg.beam_width) == ("beam", str(folder / "lm.bin"), 0.7, 1.2,
                                                                            16)
    assert decoder_config_for("en", alpha=0.3).alpha == 0.3  # explicit flags still win
    assert decoder_config_for("en", decoder="greedy").type == "greedy"
    arpa, _ = lm_files
    own = decoder_config_for("en", lm=arpa)  # the user's LM: none of the shipped defaults
    assert (own.type, own.lm_path, own.alpha, own.beta) == ("beam", arpa, 0.5, 1.5)
    tuned = tmp_path / "mine.json"
    tuned.write_text(json.dumps({"alpha": 2.0, "beta": 0.1}))
    mine = decoder_config_for("en", tuned=str(tuned))  # the user's tuned file, without an LM
    assert (mine.type, mine.lm_path, mine.alpha) == ("beam", None, 2.0)
    assert decoder_config_for(overfit_model.checkpoint).type == "greedy"  # a path: nothing shipped applies


def test_serve_and_tune_default_to_the_shipped_model(packed_with_lm, use_store):
    from ds2ray.cli import build_parser
    from serve.cli import config_from_args
    from serve.config import ServeConfig

    use_store(packed_with_lm)
    folder = packed_with_lm / "en"
    cfg = config_from_args(build_parser().parse_args(["serve"]))  # no --checkpoint
    assert (cfg.checkpoint, cfg.decoder, cfg.lm_path) == ("en", "beam", str(folder / "lm.bin"))
    resolved = cfg.resolved({})
    assert (resolved.alpha, resolved.beta) == (0.7, 1.2)
    greedy = config_from_args(build_parser().parse_args(["serve", "--decoder", "greedy"]))
    assert (greedy.decoder, greedy.lm_path, greedy.tuned) == ("greedy", None, None)
    # serve run / run_in_process: a beam config without an LM gets the shipped one
    yaml_like = ServeConfig(checkpoint="en", decoder="beam").resolved({})
    assert (yaml_like.lm_path, yaml_like.alpha) == (str(folder / "lm.bin"), 0.7)
    with pytest.raises(ValueError, match="no shipped model 'de'; available: en"):
        ServeConfig(checkpoint="de").resolved({})


def test_test_and_tune_commands_take_the_shipped_name(overfit_model, packed_with_lm, use_store, tmp_path, capsys):
    from ds2ray.cli import main
    from ds2ray.data.audio import audio_info

    use_store(packed_with_lm)
    folder = os.path.dirname(overfit_model.checkpoint)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": os.path.join(folder, f"utt{i}.wav"), "text": t,
                                            "duration": audio_info(os.path.join(folder, f"utt{i}.wav")).duration})
                                + "\n" for i, t in enumerate(overfit_model.texts)))
    summary = tmp_path / "summary.json"
    assert main(["test", "--checkpoint", "en", "--manifest", str(manifest), "--num-workers", "0", "--no-progress",
                 "--out", str(tmp_path / "r.jsonl"), "--summary-json", str(summary)]) == 0
    result = json.loads(summary.read_text())
    assert result["wer"] == 0.0 and result["decoder"]["type"] == "beam"
    assert result["decoder"]["params"]["lm_path"] == str(packed_with_lm / "en" / "lm.bin")
    assert result["decoder"]["params"]["alpha"] == 0.7
    capsys.readouterr()
    assert main(["tune", "--checkpoint", "en", "--manifest", str(manifest), "--engine", "plain",
                 "--acoustic-workers", "0", "--num-alphas", "2", "--num-betas", "1", "--num-workers", "1",
                 "--out", str(tmp_path / "tune")]) == 0
    best = json.loads((tmp_path / "tune" / "best.json").read_text())
    assert best["lm_path"] == str(packed_with_lm / "en" / "lm.bin") and best["wer"] == 0.0


def test_replica_serves_the_shipped_model_with_its_lm(overfit_model, packed_with_lm, use_store):
    import torch

    from serve.app import Clip, Transcriber
    from serve.config import ServeConfig

    use_store(packed_with_lm)
    threads = torch.get_num_threads()
    try:
        replica = Transcriber.func_or_class(ServeConfig(checkpoint="en", decoder="beam").resolved({}).to_dict())
    finally:
        torch.set_num_threads(threads)
    info = replica.info()
    assert (info["checkpoint"], info["decoder"], info["alpha"]) == ("en", "beam", 0.7)
    out = replica._run([Clip(w, 16000) for w in overfit_model.waves])
    assert [o["text"] for o in out] == list(overfit_model.texts)
