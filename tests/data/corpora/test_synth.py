import json

import pytest

from ds2ray.data.corpora.synth import SynthConfig, synthesize_corpus
from ds2ray.data.corpora.tts import EspeakEngine
from ds2ray.data.manifest import read_manifest

pytestmark = pytest.mark.skipif(not EspeakEngine.available(), reason="espeak-ng not installed (make setup)")


def _corpus(out, **kw):
    cfg = SynthConfig(**{"num_utterances": 40, "hours": None, "heldout_timbres": 2, "dev_fraction": 0.1,
                         "test_fraction": 0.1, **kw})
    return synthesize_corpus(cfg, out, num_workers=2, progress=False)


def test_splits_hold_out_voices_and_sentences(tmp_path):
    paths = _corpus(tmp_path / "c")
    man = {s: read_manifest(p) for s, p in paths.items()}
    assert sum(len(m) for m in man.values()) == 40
    timbres = {s: {e.extra["timbre"] for e in m} for s, m in man.items()}
    texts = {s: {e.text for e in m} for s, m in man.items()}
    assert not timbres["train"] & timbres["test"] and not timbres["train"] & timbres["dev"]
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["dev"]
    for e in man["train"]:
        assert e.text == e.text.lower() and e.duration > 0.3
    import soundfile as sf

    info = sf.info(man["test"][0].audio_filepath)
    assert info.samplerate == 16000 and abs(info.duration - man["test"][0].duration) < 1e-3


def test_deterministic_and_rerun_skips(tmp_path):
    a = _corpus(tmp_path / "a", seed=3)
    b = _corpus(tmp_path / "b", seed=3)
    rows = lambda p: [(r["text"], r["speaker"], r["speed"]) for r in map(json.loads, open(p))]  # noqa: E731
    assert rows(a["train"]) == rows(b["train"])
    marker = (tmp_path / "a" / "synth.json").stat().st_mtime_ns
    _corpus(tmp_path / "a", seed=3)
    assert (tmp_path / "a" / "synth.json").stat().st_mtime_ns == marker
    with pytest.raises(ValueError, match="--overwrite"):
        _corpus(tmp_path / "a", seed=4)


def test_hours_target(tmp_path):
    paths = _corpus(tmp_path / "h", num_utterances=None, hours=60 / 3600)
    total = sum(e.duration for p in paths.values() for e in read_manifest(p))
    assert 60 <= total < 75  # stops at the first utterance that reaches the target


def test_cli_prepare_synth(tmp_path, capsys):
    from ds2ray.cli import main

    assert main(["prepare", "synth", "--out-dir", str(tmp_path / "s"), "--num-utterances", "30",
                 "--heldout-timbres", "1", "--text", str(_sentences(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and "test:" in out


def _sentences(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("\n".join(f"sentence number {w} is here" for w in
                           "one two three four five six seven eight nine ten eleven twelve".split()))
    return p


def test_balance_by_engine_gives_each_engine_an_equal_share(tmp_path):
    from ds2ray.data.corpora.tts import FliteEngine

    if not FliteEngine.available():
        pytest.skip("flite not installed (make setup)")
    paths = _corpus(tmp_path / "b", engines=("espeak", "flite"), num_utterances=20, dev_fraction=0.0,
                    test_fraction=0.0, heldout_timbres=0, balance="engine", text=str(_sentences(tmp_path)))
    train = read_manifest(paths["train"])
    engines = [e.speaker.split(":")[0] for e in train]
    assert engines.count("espeak") == 10 and engines.count("flite") == 10  # by voice: ~19 espeak, ~1 flite
    assert read_manifest(paths["dev"]).entries == [] and read_manifest(paths["test"]).entries == []
    summary = json.loads((tmp_path / "b" / "synth.json").read_text())
    assert {n: v["utterances"] for n, v in summary["engines"].items()} == {"espeak": 10, "flite": 10}


def test_balance_by_engine_keeps_held_out_timbres_and_a_training_voice_per_engine(tmp_path):
    from ds2ray.data.corpora.synth import plan_splits
    from ds2ray.data.corpora.tts import Voice

    voices = [Voice("espeak", f"en+{v}", f"espeak-{v}") for v in "abcdefgh"] + \
        [Voice("flite", "kal", "flite-kal"), Voice("flite", "slt", "flite-slt")]
    cfg = SynthConfig(engines=("espeak", "flite"), heldout_timbres=4, balance="engine")
    _, pools = plan_splits(cfg, [f"s {i}" for i in range(40)], voices)
    timbres = {s: {v.timbre for v in p} for s, p in pools.items()}
    assert len(timbres["dev"]) == 4 and len(timbres["test"]) == 4
    assert not timbres["train"] & (timbres["dev"] | timbres["test"])
    assert {v.engine for v in pools["train"]} == {"espeak", "flite"}


def test_new_settings_at_their_defaults_keep_old_fingerprints():
    old = SynthConfig(seed=1)
    assert "balance" not in old.to_dict() and "espeak_variants" not in old.to_dict()
    assert SynthConfig(seed=1, balance="engine").fingerprint(["a"]) != old.fingerprint(["a"])
    with pytest.raises(ValueError, match="balance"):
        SynthConfig(balance="speaker")


def test_wavs_are_reused_when_only_the_size_changes_and_deleted_when_the_plan_does(tmp_path):
    out = tmp_path / "p"
    _corpus(out, num_utterances=20, dev_fraction=0.0, test_fraction=0.0, heldout_timbres=0)
    first = (out / "wav" / "train" / "synth_0000000.wav").stat().st_mtime_ns
    paths = synthesize_corpus(SynthConfig(num_utterances=30, hours=None, dev_fraction=0.0, test_fraction=0.0,
                                          heldout_timbres=0), out, overwrite=True, progress=False)
    assert len(read_manifest(paths["train"])) == 30
    assert (out / "wav" / "train" / "synth_0000000.wav").stat().st_mtime_ns == first  # reused
    with pytest.raises(ValueError, match="--overwrite"):
        _corpus(out, num_utterances=30, dev_fraction=0.0, test_fraction=0.0, heldout_timbres=0, seed=5)
    (out / "synth.json").unlink()  # as after a crash: the WAVs on disk belong to another plan
    with pytest.raises(ValueError, match="WAVs of a synthetic corpus with other settings"):
        _corpus(out, num_utterances=30, dev_fraction=0.0, test_fraction=0.0, heldout_timbres=0, seed=5)
