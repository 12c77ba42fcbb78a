"""ServeConfig, the `ds2ray serve` flags and the YAML config, without starting anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ds2ray.cli import build_parser
from ds2ray.config import ConfigError
from serve.cli import config_from_args
from serve.client import endpoint
from serve.config import ServeConfig, hash_api_key

REPO = Path(__file__).resolve().parents[2]


def parse(*argv: str, checkpoint: str = "ck"):
    return build_parser().parse_args(["serve", "--checkpoint", checkpoint, *argv])


def files(tmp_path: Path, *names: str) -> list[str]:
    """Placeholder files: resolved() checks that paths exist, not what they hold."""
    out = []
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"placeholder")
        out.append(str(path))
    return out


def test_defaults_are_greedy_batched_and_local():
    cfg = config_from_args(parse())
    assert (cfg.decoder, cfg.batching, cfg.host, cfg.port, cfg.replicas) == ("greedy", True, "127.0.0.1", 8000, 1)
    assert cfg.decoder_config().type == "greedy"


def test_every_flag_reaches_the_config(tmp_path):
    tuned = tmp_path / "best.json"
    tuned.write_text(json.dumps({"alpha": 0.9, "beta": 2.5, "wer": 0.1}))
    model, lm, words = files(tmp_path, "ck/model.pt", "lm.bin", "words.txt")
    args = parse("--lm", lm, "--unigrams", words, "--tuned", str(tuned), "--beam-width", "32",
                 "--replicas", "2", "--max-replicas", "4", "--num-cpus", "2", "--model-threads", "3", "--solo-threads", "4",
                 "--use-gpu", "--precision", "fp32",
                 "--no-batching",
                 "--max-batch-seconds", "40", "--batch-wait-ms", "25", "--host", "0.0.0.0", "--port", "9000",
                 "--max-body-mb", "5", "--max-seconds", "20", "--api-key-env", "MY_KEY",
                 checkpoint=str(tmp_path / "ck"))
    cfg = config_from_args(args)
    assert cfg.decoder == "beam" and cfg.lm_path == lm and cfg.unigrams == words and cfg.beam_width == 32
    assert (cfg.replicas, cfg.max_replicas, cfg.autoscaling, cfg.num_cpus, cfg.use_gpu) == (2, 4, True, 2.0, True)
    assert (cfg.model_threads, cfg.threads, cfg.solo_threads) == (3, 3, 4)
    assert cfg.precision == "fp32" and ServeConfig(checkpoint="ck").precision == "auto"
    assert (cfg.batching, cfg.max_batch_seconds, cfg.batch_wait_s) == (False, 40, 0.025)
    assert (cfg.host, cfg.port, cfg.max_body_bytes, cfg.max_seconds) == ("0.0.0.0", 9000, 5 * 2**20, 20.0)
    resolved = cfg.resolved({"MY_KEY": "k1"})
    assert (resolved.alpha, resolved.beta, resolved.tuned) == (0.9, 2.5, None)
    assert resolved.api_key_sha256 == hash_api_key("k1") and "k1" not in json.dumps(resolved.to_dict())
    dec = resolved.decoder_config()
    assert (dec.type, dec.lm_path, dec.alpha, dec.beta, dec.beam_width) == ("beam", lm, 0.9, 2.5, 32)


def test_every_decoder_setting_is_a_serve_setting_with_the_same_default(tmp_path):
    import dataclasses

    from ds2ray.decode.base import DecoderConfig

    serve_fields = {f.name: f.default for f in dataclasses.fields(ServeConfig)}
    for f in dataclasses.fields(DecoderConfig):
        if f.name != "type":  # ServeConfig.decoder
            assert serve_fields[f.name] == f.default, f.name
    model, lm = files(tmp_path, "model.pt", "lm.bin")
    cfg = config_from_args(parse("--lm", lm, "--beam-prune-logp", "-7", "--token-min-logp", "-3",
                                 "--unk-score-offset", "-4", "--hotwords", "cat", "sat", "--hotword-weight", "2",
                                 checkpoint=model))
    dec = cfg.resolved({}).decoder_config()
    assert (dec.type, dec.beam_prune_logp, dec.token_min_logp, dec.unk_score_offset) == ("beam", -7.0, -3.0, -4.0)
    assert (dec.hotwords, dec.hotword_weight) == ((("cat", 2.0), ("sat", 2.0)), 2.0)
    assert dec == DecoderConfig(type="beam", **cfg.decoder_settings())


def test_tuned_file_sets_alpha_beta_and_the_settings_left_at_their_defaults(tmp_path):
    model, lm = files(tmp_path, "model.pt", "lm.bin")
    tuned = tmp_path / "best.json"
    tuned.write_text(json.dumps({"alpha": 0.9, "beta": 2.5, "beam_width": 16, "beam_prune_logp": -8.0,
                                 "token_min_logp": -4.0, "lm_path": "/tuning/machine/lm.bin", "wer": 0.1}))
    cfg = ServeConfig(checkpoint=model, decoder="beam", lm_path=lm, alpha=0.1, token_min_logp=-2.0,
                      tuned=str(tuned)).resolved({})
    assert (cfg.alpha, cfg.beta, cfg.beam_width, cfg.beam_prune_logp) == (0.9, 2.5, 16, -8.0)
    assert (cfg.token_min_logp, cfg.lm_path) == (-2.0, lm)  # set in the config: kept


def test_alpha_beta_flags_and_long_clips(tmp_path):
    model, = files(tmp_path, "model.pt")
    cfg = config_from_args(parse("--decoder", "beam", "--alpha", "0.3", "--beta", "1.0", "--max-seconds", "10800",
                                 "--max-segment-seconds", "90", "--backend", "torch", checkpoint=model))
    assert (cfg.alpha, cfg.beta, cfg.max_seconds, cfg.backend) == (0.3, 1.0, 10800.0, "torch")
    assert cfg.max_batch_seconds >= 90  # a batch must hold the longest segment
    assert cfg.vad_config().max_segment_s == 90.0
    default = config_from_args(parse(checkpoint=model))  # a 2 h meeting fits by default
    assert default.max_seconds == 7200 and default.max_body_bytes >= 7200 * 16000 * 2 + 44
    assert cfg.resolved({}).api_key_sha256 is None  # no key in the environment: open service


def test_model_threads_default_to_the_replica_cpus():
    assert [ServeConfig(checkpoint="ck", num_cpus=n).threads for n in (0.5, 1, 2, 3.6)] == [1, 1, 2, 4]
    assert ServeConfig(checkpoint="ck", num_cpus=1, model_threads=2).threads == 2


@pytest.mark.parametrize("fields, fragment", [
    ({"decoder": "viterbi"}, "unknown decoder"),
    ({"lm_path": "lm.bin"}, "decoder is 'greedy'"),
    ({"replicas": 3, "max_replicas": 2}, "max_replicas"),
    ({"max_segment_seconds": 90}, "max_batch_seconds"),
    ({"vad_aggressiveness": 4}, "aggressiveness"),
    ({"backend": "tensorrt"}, "backend"),
    ({"precision": "fp16"}, "precision must be 'auto', 'fp32' or 'bf16'"),
    ({"route_prefix": "asr"}, "route_prefix"),
    ({"max_body_mb": 0}, "max_body_mb"),
    ({"model_threads": -1}, "model_threads"),
    ({"model_threads": 1.5}, "model_threads"),
    ({"solo_threads": -2}, "solo_threads"),
])
def test_bad_configs_say_what_to_fix(fields, fragment):
    with pytest.raises(ConfigError, match=fragment):
        ServeConfig(checkpoint="ck", **fields)


def test_resolved_needs_existing_files_and_a_readable_tuned_file(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint is required"):
        ServeConfig().resolved({})
    with pytest.raises(ConfigError, match="no checkpoint there"):
        ServeConfig(checkpoint=str(tmp_path / "nowhere")).resolved({})
    model, = files(tmp_path, "ck/model.pt")
    with pytest.raises(ConfigError, match="lm_path: .* does not exist"):
        ServeConfig(checkpoint=model, decoder="beam", lm_path=str(tmp_path / "lm.bin")).resolved({})
    with pytest.raises(ConfigError, match="not found"):
        ServeConfig(checkpoint=model, tuned=str(tmp_path / "missing.json")).resolved({})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"alpha": 1.0}))
    with pytest.raises(ConfigError, match="'alpha' and 'beta'"):
        ServeConfig(checkpoint=str(tmp_path / "ck"), tuned=str(bad)).resolved({})


def test_config_round_trips_and_rejects_unknown_fields():
    cfg = ServeConfig(checkpoint="ck", replicas=2).with_api_key("k")
    assert ServeConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="unknown field"):
        ServeConfig.from_dict({"checkpoint": "ck", "replica": 2})


def test_serve_config_yaml_args_are_valid_serve_config_fields():
    doc = yaml.safe_load((REPO / "serve" / "serve_config.yaml").read_text())
    app = doc["applications"][0]
    assert app["import_path"] == "serve.app:build_app"
    cfg = ServeConfig.from_dict(app["args"])
    assert cfg.checkpoint and cfg.route_prefix == app["route_prefix"]
    assert {d["name"] for d in app.get("deployments", [])} <= {"Frontend", "Transcriber"}


def test_client_endpoint():
    assert endpoint("http://h:1") == "http://h:1/transcribe"
    assert endpoint("http://h:1/asr/") == "http://h:1/asr/transcribe"
    assert endpoint("http://h:1/transcribe") == "http://h:1/transcribe"


def test_commands_have_help(capsys):
    for command in ("serve", "transcribe", "mic"):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([command, "--help"])
        assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--checkpoint" in out and "--url" in out and "SPACE" in out


def test_batches_are_measured_in_whole_seconds_of_audio():
    import numpy as np

    from serve.app import Clip, batch_seconds

    clips = [Clip(np.zeros(80000, np.float32), 16000), Clip(np.zeros(4800, np.float32), 16000),
             Clip(np.zeros(16001, np.float32), 16000)]
    assert [c.batch_units for c in clips] == [5, 1, 2]
    assert batch_seconds(clips) == 8


@pytest.mark.parametrize("fields", [{"max_replicas": 3}, {"front_replicas": 2}])
def test_colocate_refuses_separate_scaling(fields):
    with pytest.raises(ConfigError, match="colocate"):
        ServeConfig(checkpoint="ck", colocate=True, **fields)
    ServeConfig(checkpoint="ck", colocate=True, replicas=2)  # one deployment of two replicas is fine
