"""Word timestamps of the shipped English model on audio with known word boundaries.

Each word is synthesised alone with espeak-ng and trimmed to where its waveform first and last
reaches 1 % of its peak; the words are joined by measured silences, so every word's true start and
end are known. The shipped model (``en``), greedy and beam + LM, must put every recognised word
within 0.1 s of them. The words are ones this (weak) model hears as one word each; it misspells
some ("open" -> "on"), which does not matter for when they were said. Known limits of the model,
kept out of this audio: a first word starting with some letters ("seven", "water") gets that letter
on frame 0, and a last word ending in a long vowel or "s" gets its last letter at the final frame.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np
import pytest

from ds2ray.data.audio import to_mono_resampled
from ds2ray.data.corpora.tts import EspeakEngine, Voice

RATE = 16000
WORDS = ("open", "seven", "apples", "water")
LEAD_S, GAP_S = 0.4, 0.35
TOLERANCE_S = 0.1

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@dataclass(frozen=True)
class TimedAudio:
    audio: np.ndarray  # (N,) float32 at RATE
    truth: tuple[tuple[str, float, float], ...]  # (word, start s, end s)


def spoken_word(engine: EspeakEngine, word: str) -> np.ndarray:
    """``word`` alone, trimmed to where it first and last reaches 1 % of its peak amplitude."""
    audio, rate = engine.synthesize(word, Voice("espeak", "en-us+m1", "espeak-m1"))
    audio = to_mono_resampled(audio, rate, RATE)
    loud = np.flatnonzero(np.abs(audio) >= 0.01 * np.abs(audio).max())
    return audio[loud[0]: loud[-1] + 1]


@pytest.fixture(scope="module")
def timed_audio() -> TimedAudio:
    engine = EspeakEngine()
    parts, truth, t = [np.zeros(int(LEAD_S * RATE), np.float32)], [], LEAD_S
    for word in WORDS:
        audio = spoken_word(engine, word)
        truth.append((word, t, t + len(audio) / RATE))
        t += len(audio) / RATE + GAP_S
        parts += [audio, np.zeros(int(GAP_S * RATE), np.float32)]
    return TimedAudio(np.concatenate(parts).astype(np.float32), tuple(truth))


def misses(words, truth, shift: float = 0.0) -> list[str]:
    """Words whose start or end is more than TOLERANCE_S from the truth (moved by ``shift``)."""
    assert len(words) == len(truth), ([w.word for w in words], [w for w, _, _ in truth])
    return [f"{w.word} {w.start:.2f}-{w.end:.2f} vs {name} {a + shift:.2f}-{b + shift:.2f}"
            for w, (name, a, b) in zip(words, truth)
            if abs(w.start - (a + shift)) > TOLERANCE_S or abs(w.end - (b + shift)) > TOLERANCE_S]


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_shipped_model_times_every_word_within_a_tenth_of_a_second(timed_audio, decoder):
    from ds2ray.transcribe import load_recognizer

    rec = load_recognizer("en", decoder=decoder)  # beam: the shipped LM and tuned alpha/beta
    assert rec.model.frame_seconds == pytest.approx(0.02)
    segment = rec.transcribe_segment(timed_audio.audio)
    assert segment.end == pytest.approx(len(timed_audio.audio) / RATE, abs=0.05)
    assert " ".join(w.word for w in segment.words) == segment.text
    assert misses(segment.words, timed_audio.truth) == []
    for shift in (-0.15, 0.15):  # the check can fail: the same words against truth moved by 0.15 s
        assert len(misses(segment.words, timed_audio.truth, shift)) == len(WORDS)
