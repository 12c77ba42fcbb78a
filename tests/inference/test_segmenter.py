"""Voice-activity segmentation: cuts at known pauses, the max-length fallback, block-size independence."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ds2ray.config import ConfigError
from ds2ray.inference.segmenter import SpeechSegmenter, VadConfig, speech_segments
from ds2ray.testing.signals import speechlike

RATE = 16000


def blocks_of(audio: np.ndarray, seconds: float) -> list[np.ndarray]:
    n = int(seconds * RATE)
    return [audio[i:i + n] for i in range(0, len(audio), n)]


def joined(parts: list[np.ndarray], gaps: list[float], lead: float = 0.5, noise: float = 0.002):
    """``parts`` joined by ``gaps`` seconds of faint noise; returns the audio and each part's (start, end) s."""
    rng = np.random.default_rng(0)
    pieces, spans, t = [rng.normal(0, noise, int(lead * RATE)).astype(np.float32)], [], lead
    for part, gap in zip(parts, gaps):
        spans.append((t, t + len(part) / RATE))
        pieces += [part, rng.normal(0, noise, int(gap * RATE)).astype(np.float32)]
        t += (len(part) + int(gap * RATE)) / RATE
    return np.concatenate(pieces).astype(np.float32), spans


@pytest.fixture(scope="module")
def spoken() -> list[np.ndarray]:
    """Three espeak-ng phrases at 16 kHz, trimmed to where they first and last reach 1 % of their peak."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make setup installs it)")
    from ds2ray.data.audio import to_mono_resampled
    from ds2ray.data.corpora.tts import EspeakEngine, Voice

    engine, out = EspeakEngine(), []
    for text in ("open the gate", "seven apples", "water the plants today"):
        audio, rate = engine.synthesize(text, Voice("espeak", "en-us+m1", "espeak-m1"))
        audio = to_mono_resampled(audio, rate, RATE)
        loud = np.flatnonzero(np.abs(audio) >= 0.01 * np.abs(audio).max())
        out.append(audio[loud[0]:loud[-1] + 1])
    return out


def test_cuts_at_the_measured_pauses_of_spoken_phrases(spoken):
    cfg = VadConfig()
    audio, spans = joined(spoken, [1.3, 1.6, 1.2])
    segments = list(speech_segments(blocks_of(audio, 1.7), RATE, cfg))
    assert len(segments) == len(spans), [(s.start, s.end) for s in segments]
    for seg, (start, end) in zip(segments, spans):
        # each segment holds its phrase (the padding either side) and none of the next one
        assert start - cfg.padding_s - 0.1 <= seg.start <= start + 0.1, (seg.start, start)
        # WebRTC keeps calling speech for a few frames after it ends (its hangover): up to 0.3 s more
        assert end - 0.1 <= seg.end <= end + cfg.padding_s + 0.3, (seg.end, end)
        assert seg.seconds == pytest.approx(len(seg.audio) / RATE)
        i = int(round(seg.start * RATE))
        assert np.array_equal(seg.audio, audio[i:i + len(seg.audio)])  # the stream's own samples
    for a, b in zip(segments, segments[1:]):
        assert a.end <= b.start


def test_a_short_pause_inside_speech_is_not_a_cut():
    cfg = VadConfig(min_silence_s=0.4)
    audio, _ = joined([speechlike(1.5, seed=1), speechlike(1.5, seed=2)], [0.15, 0.5])
    assert len(list(speech_segments([audio], RATE, cfg))) == 1
    audio, _ = joined([speechlike(1.5, seed=1), speechlike(1.5, seed=2)], [0.8, 0.5])
    assert len(list(speech_segments([audio], RATE, cfg))) == 2


def test_max_length_fallback_cuts_at_the_quietest_point_and_loses_nothing():
    cfg = VadConfig(max_segment_s=10.0, cut_search_s=4.0, padding_s=0.0)
    speech = speechlike(25.0, seed=3)
    dip = slice(int(8.0 * RATE), int(8.2 * RATE))  # 0.2 s dip: quieter, but too short to be a pause
    speech[dip] *= 0.02
    segments = list(speech_segments(blocks_of(speech, 3.0), RATE, cfg))
    assert all(s.seconds <= cfg.max_segment_s + 1e-6 for s in segments)
    assert 7.95 <= segments[0].end <= 8.25, segments[0].end  # inside the dip, not at the 10 s limit
    # the forced cuts keep every sample: the segments tile the speech
    assert segments[0].start == pytest.approx(0.0, abs=0.05)
    for a, b in zip(segments, segments[1:]):
        assert b.start == pytest.approx(a.end)
    assert sum(len(s.audio) for s in segments) == pytest.approx(len(speech), abs=cfg.frame_ms * RATE // 1000)


@pytest.mark.parametrize("block_seconds", [0.013, 0.5, 7.0])
def test_segments_do_not_depend_on_the_block_size(block_seconds):
    audio, _ = joined([speechlike(1.2, seed=s) for s in range(4)], [1.2, 1.5, 1.1, 1.3])
    whole = list(speech_segments([audio], RATE))
    parts = list(speech_segments(blocks_of(audio, block_seconds), RATE))
    assert [(s.start, len(s.audio)) for s in parts] == [(s.start, len(s.audio)) for s in whole]
    assert len(whole) == 4


def test_silence_and_clicks_give_no_segments():
    assert list(speech_segments(blocks_of(np.zeros(RATE * 60, np.float32), 10.0), RATE)) == []
    clicks = np.zeros(RATE * 5, np.float32)
    clicks[RATE::RATE] = 0.9  # one-sample clicks each second: too little speech to keep
    assert list(speech_segments([clicks], RATE)) == []


def test_bad_settings_are_refused_with_the_field_named():
    with pytest.raises(ConfigError, match="aggressiveness"):
        VadConfig(aggressiveness=5)
    with pytest.raises(ConfigError, match="frame_ms"):
        VadConfig(frame_ms=25)
    with pytest.raises(ConfigError, match="cut_search_s"):
        VadConfig(max_segment_s=4.0, cut_search_s=3.0)
    with pytest.raises(ValueError, match="resample"):
        SpeechSegmenter(22050)
    assert VadConfig.from_dict(VadConfig(min_silence_s=0.5).to_dict()) == VadConfig(min_silence_s=0.5)
