"""TTS engines: every installed English voice of espeak-ng (all variants), festival and piper synthesizes."""

import numpy as np
import pytest

from ds2ray.data.corpora.tts import EspeakEngine, FestivalEngine, PiperEngine, get_engine


@pytest.mark.skipif(not EspeakEngine.available(), reason="espeak-ng not installed (make setup)")
def test_espeak_all_variants_adds_voices_but_no_whispering_ones():
    listed = get_engine("espeak").voices()
    every = get_engine("espeak", variants="all").voices()
    assert {v.id for v in listed} <= {v.id for v in every} and len(every) > len(listed)
    assert not any(v.name.endswith(("+whisper", "+whisperf")) for v in every)
    with pytest.raises(ValueError, match="variants"):
        get_engine("espeak", variants="some")


@pytest.mark.skipif(not FestivalEngine.available(), reason="festival not installed (make setup)")
def test_festival_speaks_with_each_installed_voice_from_one_interpreter_per_thread():
    engine = get_engine("festival")
    sessions = []
    try:
        voices = engine.voices()
        assert voices
        for voice in voices:
            audio, rate = engine.synthesize('say "hello" to the cat', voice, speed=1.0, pitch=1.0)
            fast, fast_rate = engine.synthesize('say "hello" to the cat', voice, speed=1.3, pitch=1.2)
            assert audio.size / rate > 0.5 and fast.size / fast_rate < audio.size / rate  # faster is shorter
        sessions = list(engine._sessions)
        assert len(sessions) == 1  # one festival process served every utterance of this thread
    finally:
        engine.close()
    assert not any(s.alive() for s in sessions)


@pytest.mark.skipif(not PiperEngine.available(), reason="piper or its voice not installed (make setup: ds2ray[tts])")
def test_piper_voice_is_speech_the_shipped_model_can_read():
    """The neural voice's audio is English the shipped model recognises (a broken engine gives
    noise or silence: CER near 1); speed shortens it and the pitch factor is held to a natural range."""
    from ds2ray.data.audio import to_mono_resampled
    from ds2ray.metrics import cer
    from ds2ray.transcribe import load_recognizer

    engine = get_engine("piper")
    voices = engine.voices()
    assert voices and all(v.engine == "piper" and v.timbre.startswith("piper-") for v in voices)
    text = "the weather is nice today and the children are playing outside"
    audio, rate = engine.synthesize(text, voices[0])
    fast, fast_rate = engine.synthesize(text, voices[0], speed=1.3, pitch=2.0)
    assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    assert 2.0 < audio.size / rate < 8.0
    assert fast.size / fast_rate < 0.9 * audio.size / rate  # 1.3x faster
    assert fast_rate == round(engine._model(voices[0].name).config.sample_rate * PiperEngine.PITCH_RANGE[1])
    rec = load_recognizer("en", decoder="greedy")
    heard = rec.transcribe_segment(to_mono_resampled(audio, rate, 16000)).text
    assert cer([text], [heard]).rate < 0.5, heard  # this weak model: ~0.35 (session 14); noise: ~1


def test_piper_voices_come_from_packages_and_folders_english_only(tmp_path, monkeypatch):
    """``$DS2RAY_PIPER_VOICES`` adds voice folders; a non-English voice and a model without its config
    are left out; a multi-speaker voice is one Voice per speaker."""
    import json

    for name, lang, speakers in (("en_GB-a-low", "en_GB", 1), ("de_DE-b-low", "de_DE", 1), ("en_US-c-low", "en_US", 3)):
        (tmp_path / f"{name}.onnx").write_bytes(b"")
        (tmp_path / f"{name}.onnx.json").write_text(json.dumps({"language": {"code": lang}, "num_speakers": speakers}))
    (tmp_path / "en_US-orphan-low.onnx").write_bytes(b"")
    monkeypatch.setenv(PiperEngine.VOICES_ENV, str(tmp_path))
    names = {v.name for v in PiperEngine().voices()}
    assert {"en_GB-a-low", "en_US-c-low#0", "en_US-c-low#1", "en_US-c-low#2"} <= names
    assert not any("de_DE" in n or "orphan" in n for n in names)


def test_piper_without_a_voice_says_how_to_get_one(tmp_path, monkeypatch):
    """No voice package and an empty voice folder: the engine is unavailable and asking for it names
    the extra to install and the folder variable."""
    from ds2ray.data.corpora.tts import TTSError

    monkeypatch.setattr(PiperEngine, "VOICE_PACKAGES", ())
    monkeypatch.setenv(PiperEngine.VOICES_ENV, str(tmp_path))
    assert not PiperEngine.available()
    with pytest.raises(TTSError, match=r"ds2ray\[tts\].*DS2RAY_PIPER_VOICES"):
        get_engine("piper")
