"""The config: the seed's example works unchanged, errors name the entry, round trips, seeding,
probabilities and the registry."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ds2ray.augment import AUGMENTORS, AugmentConfigError, AugmentPipeline, WaveformAugmentor
from ds2ray.data.corpora.noise import build_audio_list
from ds2ray.testing.signals import speechlike

from .conftest import SR, audio_list

# conf/augmentation.config.example of the seed (PaddlePaddle/DeepSpeech), byte for byte.
SEED_EXAMPLE = """[
    {
        "type": "noise",
        "params": {"min_snr_dB": 40,
                   "max_snr_dB": 50,
                   "noise_manifest_path": "datasets/manifest.noise"},
        "prob": 0.6
    },
    {
        "type": "impulse",
        "params": {"impulse_manifest_path": "datasets/manifest.impulse"},
        "prob": 0.5
    },
    {
        "type": "speed",
        "params": {"min_speed_rate": 0.95,
                   "max_speed_rate": 1.05},
        "prob": 0.5
    },
    {
        "type": "shift",
        "params": {"min_shift_ms": -5,
                   "max_shift_ms": 5},
        "prob": 1.0
    },
    {
        "type": "volume",
        "params": {"min_gain_dBFS": -10,
                   "max_gain_dBFS": 10},
        "prob": 0.0
    },
    {
        "type": "bayesian_normal",
        "params": {"target_db": -20,
                   "prior_db": -20,
                   "prior_samples": 100},
        "prob": 0.0
    }
]
"""


@pytest.fixture
def seed_layout(tmp_path, monkeypatch, noise_manifest, impulse_dir):
    """The seed's layout: conf/augmentation.config.example, datasets/manifest.{noise,impulse}, run
    from the repository root."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "conf" / "augmentation.config.example").write_text(SEED_EXAMPLE)
    build_audio_list(Path(noise_manifest).parent / "clips", tmp_path / "datasets" / "manifest.noise", what="noise")
    audio_list(tmp_path / "datasets" / "manifest.impulse", impulse_dir / "room" / "room.wav")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_seed_example_config_works_unchanged(seed_layout):
    pipe = AugmentPipeline.from_config("conf/augmentation.config.example")
    assert [s.augmentor.type_name for s in pipe.steps] == ["noise", "impulse", "speed", "shift", "volume",
                                                         "bayesian_normal"]
    assert [s.prob for s in pipe.steps] == [0.6, 0.5, 0.5, 1.0, 0.0, 0.0]
    assert pipe.has_waveform_stage and not pipe.has_feature_stage
    x = speechlike(1.0, seed=1)
    fired = set()
    for i in range(30):
        trace = []
        y = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(0, 0, i), trace)
        assert y.dtype == np.float32 and np.isfinite(y).all()
        fired |= {a.type for a in trace}
    assert fired == {"noise", "impulse", "speed", "shift"}  # prob 0 never fires
    # the same pipeline from a JSON string, a list, and its own to_config()
    assert AugmentPipeline.from_config(SEED_EXAMPLE) == pipe
    assert AugmentPipeline.from_config(json.loads(SEED_EXAMPLE)) == pipe
    assert AugmentPipeline.from_config(pipe.to_config()) == pipe
    assert AugmentPipeline.from_config(json.loads(json.dumps(pipe.to_config()))) == pipe


def test_pipeline_pickles_with_its_noise_lists(seed_layout):
    pipe = AugmentPipeline.from_config("conf/augmentation.config.example")
    clone = pickle.loads(pickle.dumps(pipe))
    x = speechlike(0.5, seed=2)
    for i in range(5):
        rng_a, rng_b = AugmentPipeline.rng_for(7, 1, i), AugmentPipeline.rng_for(7, 1, i)
        np.testing.assert_array_equal(pipe.process_waveform(x, SR, rng_a), clone.process_waveform(x, SR, rng_b))


def test_relative_manifest_paths_also_resolve_against_the_config_folder(tmp_path, monkeypatch, noise_manifest):
    conf = tmp_path / "recipe"
    conf.mkdir()
    build_audio_list(Path(noise_manifest).parent / "clips", conf / "noise.jsonl", what="noise")
    (conf / "aug.json").write_text(json.dumps([{"type": "noise", "params": {
        "min_snr_dB": 10, "max_snr_dB": 10, "noise_manifest_path": "noise.jsonl"}, "prob": 1.0}]))
    monkeypatch.chdir(tmp_path)  # noise.jsonl is not in the CWD
    pipe = AugmentPipeline.from_config(conf / "aug.json")
    assert pipe.to_config()[0]["params"]["noise_manifest_path"] == str(conf / "noise.jsonl")


SPEED = {"type": "speed", "params": {"min_speed_rate": 0.9, "max_speed_rate": 1.1}, "prob": 0.5}


@pytest.mark.parametrize("bad,message", [
    ([SPEED, SPEED, {"type": "speed", "params": {"rate": 1.0}, "prob": 1}],
     "augmentation config entry 2 (\"speed\"): unknown parameter 'rate'; expected min_speed_rate, max_speed_rate"),
    ([{"type": "flanger", "params": {}, "prob": 1}],
     "entry 0 (\"flanger\"): unknown augmentor type; expected one of bayesian_normal, codec, colored_noise, "
     "freq_warp, impulse, noise, reverb, shift, specaugment, speed, telephone, volume"),
    ([SPEED, {"type": "speed", "params": {"min_speed_rate": 0.9}, "prob": 1}],
     "entry 1 (\"speed\"): missing parameter 'max_speed_rate'"),
    ([{"type": "volume", "params": {"min_gain_dBFS": "loud", "max_gain_dBFS": 1}, "prob": 1}],
     "entry 0 (\"volume\"): parameter 'min_gain_dBFS' must be a finite number, got 'loud'"),
    ([{"type": "shift", "params": {"min_shift_ms": 5, "max_shift_ms": -5}, "prob": 1}],
     "entry 0 (\"shift\"): min_shift_ms=5.0 is greater than max_shift_ms=-5.0"),
    ([{"type": "speed", "params": {"min_speed_rate": 0.1, "max_speed_rate": 1.0}, "prob": 1}],
     "entry 0 (\"speed\"): min_speed_rate=0.1 is below the allowed minimum 0.5"),
    ([SPEED, {"type": "volume", "params": {"min_gain_dBFS": 0, "max_gain_dBFS": 1}, "prob": 1.5}],
     "entry 1 (\"volume\"): 'prob' must be a number in [0, 1], got 1.5"),
    ([{"type": "volume", "params": {"min_gain_dBFS": 0, "max_gain_dBFS": 1}, "prob": -0.1}],
     "entry 0 (\"volume\"): 'prob' must be a number in [0, 1], got -0.1"),
    ([{"type": "volume", "params": {"min_gain_dBFS": 0, "max_gain_dBFS": 1}, "prob": "often"}],
     "entry 0 (\"volume\"): 'prob' must be a number in [0, 1], got 'often'"),
    ([{"type": "volume", "params": {"min_gain_dBFS": 0, "max_gain_dBFS": 1}, "probability": 1}],
     "entry 0 (\"volume\"): unknown key 'probability'; expected type, params, prob"),
    ([{"params": {}, "prob": 1}], "entry 0: missing 'type'"),
    (["speed"], "entry 0: expected an object with keys type, params, prob, got str"),
    ({"type": "speed"}, "expected a JSON list"),
    ([{"type": "specaugment", "params": {"F": 2.5}, "prob": 1}],
     "entry 0 (\"specaugment\"): parameter 'F' must be an integer, got 2.5"),
    ([{"type": "specaugment", "params": {"p": 2}, "prob": 1}], "entry 0 (\"specaugment\"): p (largest fraction"),
    ([{"type": "noise", "params": {"min_snr_dB": 1, "max_snr_dB": 2, "noise_manifest_path": "missing.noise"},
       "prob": 1}],
     "entry 0 (\"noise\"): noise manifest not found: "),
    ([{"type": "impulse", "params": {"impulse_manifest_path": "missing.impulse"}, "prob": 1}],
     "`ds2ray prepare impulse --from FOLDER --out "),
])
def test_bad_configs_name_the_entry_and_the_problem(bad, message):
    with pytest.raises(AugmentConfigError) as err:
        AugmentPipeline.from_config(bad)
    assert message in str(err.value)


def test_bad_json_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "aug.json"
    path.write_text('[\n  {"type": "speed",\n   "params": {"min_speed_rate": 0.9,}}\n]\n')
    with pytest.raises(AugmentConfigError, match=r"aug\.json: invalid JSON at line 3"):
        AugmentPipeline.from_config(str(path))
    with pytest.raises(AugmentConfigError, match="file not found"):
        AugmentPipeline.from_config(str(tmp_path / "nope.json"))


def test_bad_noise_manifest_line_is_named(tmp_path):
    (tmp_path / "n.jsonl").write_text('{"audio_filepath": "a.wav", "duration": 1}\n{"audio_filepath": "b.wav"}\n')
    with pytest.raises(AugmentConfigError, match=r"n\.jsonl:2: missing key\(s\) \['duration'\]"):
        AugmentPipeline.from_config([{"type": "noise", "params": {
            "min_snr_dB": 1, "max_snr_dB": 2, "noise_manifest_path": str(tmp_path / "n.jsonl")}}])


def test_rng_for_is_reproducible_and_differs_across_epochs_and_samples():
    pipe = AugmentPipeline.from_config([SPEED, {"type": "volume", "params": {"min_gain_dBFS": -6, "max_gain_dBFS": 6},
                                                "prob": 1.0}])
    x = speechlike(0.5, seed=3)
    out = {(e, i): pipe.process_waveform(x, SR, AugmentPipeline.rng_for(42, e, i)) for e in range(2) for i in range(3)}
    again = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(42, 1, 2))
    np.testing.assert_array_equal(out[(1, 2)], again)
    keys = list(out)
    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            ya, yb = out[keys[a]], out[keys[b]]
            assert ya.shape != yb.shape or not np.array_equal(ya, yb), (keys[a], keys[b])
    other_seed = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(43, 1, 2))
    assert other_seed.shape != again.shape or not np.array_equal(other_seed, again)


def test_each_step_fires_with_its_probability():
    pipe = AugmentPipeline.from_config([
        {"type": "volume", "params": {"min_gain_dBFS": 1, "max_gain_dBFS": 1}, "prob": 0.3},
        {"type": "shift", "params": {"min_shift_ms": 1, "max_shift_ms": 1}, "prob": 0.0},
        {"type": "specaugment", "params": {"F": 3, "n_freq_masks": 1}, "prob": 1.0},
    ])
    x = speechlike(0.1, seed=4)
    feats = torch.zeros(20, 10)
    counts = {"volume": 0, "shift": 0, "specaugment": 0}
    n = 600
    for i in range(n):
        trace = []
        rng = AugmentPipeline.rng_for(0, 0, i)
        pipe.process_waveform(x, SR, rng, trace)
        pipe.process_features(feats, rng, trace)
        for a in trace:
            counts[a.type] += 1
    # Binomial(600, 0.3): mean 180, sd 11.2; 4.5 sd either side.
    assert 130 < counts["volume"] < 230
    assert counts["shift"] == 0 and counts["specaugment"] == n


def test_stages_and_empty_pipeline():
    x = speechlike(0.2, seed=5)
    empty = AugmentPipeline.empty()
    assert not empty.has_waveform_stage and not empty.has_feature_stage and empty.to_config() == []
    assert AugmentPipeline.from_config(None) == empty == AugmentPipeline.from_config("[]")
    np.testing.assert_array_equal(empty.process_waveform(x, SR, np.random.default_rng(0)), x)
    feats = torch.randn(7, 5)
    assert torch.equal(empty.process_features(feats, np.random.default_rng(0)), feats)
    spec_only = AugmentPipeline.from_config([{"type": "specaugment", "params": {"F": 2, "n_freq_masks": 1},
                                              "prob": 0.5}])
    assert spec_only.has_feature_stage and not spec_only.has_waveform_stage
    np.testing.assert_array_equal(spec_only.process_waveform(x, SR, np.random.default_rng(0)), x)


def test_bad_inputs_are_rejected_with_what_was_expected():
    pipe = AugmentPipeline.from_config([SPEED])
    with pytest.raises(ValueError, match="float32 or float64 audio, got int16"):
        pipe.process_waveform(np.zeros(100, np.int16), SR, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(N,\) or \(C, N\) audio, got shape \(1, 2, 3\)"):
        pipe.process_waveform(np.zeros((1, 2, 3), np.float32), SR, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(T, F\) torch tensor, got \(2, 3, 4\)"):
        pipe.process_features(torch.zeros(2, 3, 4), np.random.default_rng(0))


def test_registry_takes_new_augmentors_by_name():
    @dataclass(frozen=True)
    class Invert(WaveformAugmentor, name="test_invert"):
        scale: float = 1.0

        def sample(self, rng, num_samples, sample_rate):
            return {}

        def apply(self, audio, sample_rate):
            return -self.scale * audio

    try:
        pipe = AugmentPipeline.from_config([{"type": "test_invert", "params": {"scale": 2}, "prob": 1}])
        x = speechlike(0.1, seed=6)
        np.testing.assert_allclose(pipe.process_waveform(x, SR, np.random.default_rng(0)), -2 * x)
        assert pipe.to_config() == [{"type": "test_invert", "params": {"scale": 2.0}, "prob": 1.0}]
        with pytest.raises(TypeError, match="already registered"):
            class Other(WaveformAugmentor, name="test_invert"):
                pass
    finally:
        AUGMENTORS.pop("test_invert", None)
