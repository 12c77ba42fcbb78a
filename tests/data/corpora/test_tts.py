"""TTS engines: every installed English voice of espeak-ng (all variants) and festival synthesizes."""

import pytest

from ds2ray.data.corpora.tts import EspeakEngine, FestivalEngine, get_engine


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
