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


# ---- any length: the long-form path (VAD segments batched through the model) ---------------------

GAPS_S = (1.2, 1.5, 1.1)


@pytest.fixture(scope="module")
def overfit_recognizer(overfit_model):
    from ds2ray.transcribe import load_recognizer

    return load_recognizer(overfit_model.checkpoint, decoder="greedy", backend="torch")


@pytest.fixture(scope="module")
def long_audio(overfit_model) -> TimedAudio:
    """The overfit model's three utterances, twice, joined by measured silences."""
    parts, truth, t = [np.zeros(int(0.5 * RATE), np.float32)], [], 0.5
    for i in range(6):
        k = i % 3
        wave, gap = overfit_model.waves[k], GAPS_S[k]
        truth.append((overfit_model.texts[k], t, t + len(wave) / RATE))
        parts += [wave, np.zeros(int(gap * RATE), np.float32)]  # the overfit model knows only clean audio
        t += (len(wave) + int(gap * RATE)) / RATE
    return TimedAudio(np.concatenate(parts).astype(np.float32), tuple(truth))


def test_long_form_equals_decoding_each_segment_and_times_words_in_the_file(overfit_recognizer, long_audio,
                                                                             tmp_path):
    import soundfile as sf

    from ds2ray.inference.segmenter import speech_segments

    rec = overfit_recognizer
    seen: list[float] = []
    segments = list(rec.iter_segments(long_audio.audio, RATE, batch_seconds=4.0, progress=seen.append))
    assert [s.text for s in segments] == [text for text, _, _ in long_audio.truth]
    assert seen == sorted(seen) and seen[-1] == pytest.approx(len(long_audio.audio) / RATE, abs=0.01)
    assert len(seen) >= 3  # progress after each batch of about 4 s
    # searching each pool on a worker thread while the next runs through the network changes nothing
    assert list(rec.iter_segments(long_audio.audio, RATE, batch_seconds=4.0, overlap=True)) == segments
    # each segment's text is what decoding its piece alone gives; its words sit in file time
    pieces = list(speech_segments([long_audio.audio], RATE))
    assert len(pieces) == len(segments)
    for seg, piece, alone, (text, start, end) in zip(segments, pieces, rec.segments_batch([p.audio for p in pieces]),
                                                     long_audio.truth):
        assert seg.text == alone.text
        assert seg.start == pytest.approx(piece.start) and seg.end == pytest.approx(piece.end, abs=0.05)
        assert start - 0.6 <= seg.start <= start + 0.4  # the 0.5 s padding before; espeak's lead-in after
        assert [w.word for w in seg.words] == text.split()
        shifted = [t - piece.start for w in seg.words for t in (w.start, w.end)]
        assert shifted == pytest.approx([t for w in alone.words for t in (w.start, w.end)], abs=1e-6)
        times = [seg.start] + [t for w in seg.words for t in (w.start, w.end)] + [seg.end]
        assert times == sorted(times)  # words inside their segment, in order
    # from a FLAC file read in 30 s blocks: the same transcript (resampling blocks: test_audio_blocks)
    path = tmp_path / "long.flac"
    sf.write(path, long_audio.audio, RATE, subtype="PCM_24")
    transcript = rec.transcribe_long(str(path))
    assert transcript.text == " ".join(text for text, _, _ in long_audio.truth)
    assert [s.start for s in transcript.segments] == pytest.approx([s.start for s in segments], abs=0.035)
    assert transcript.duration == pytest.approx(len(long_audio.audio) / RATE, abs=0.01)


def test_an_hour_of_silence_gives_empty_text(overfit_recognizer, tmp_path):
    import soundfile as sf

    path = tmp_path / "silence.flac"
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as out:  # written in blocks: 3600 s of zeros
        block = np.zeros(16000 * 600, np.float32)
        for _ in range(6):
            out.write(block)
    transcript = overfit_recognizer.transcribe_long(str(path))
    assert transcript.text == "" and transcript.segments == ()
    assert transcript.duration == pytest.approx(3600.0)


def test_a_file_cut_short_fails_naming_it_after_the_good_part(overfit_recognizer, long_audio, tmp_path):
    import io

    import soundfile as sf

    from ds2ray.data.audio import AudioError

    buf = io.BytesIO()
    sf.write(buf, long_audio.audio, RATE, format="WAV", subtype="PCM_16")
    path = tmp_path / "cut.wav"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    got = []
    with pytest.raises(AudioError, match="cut.wav: truncated"):
        for seg in overfit_recognizer.iter_segments(str(path), batch_seconds=1.0):
            got.append(seg.text)
    assert got[:2] == [text for text, _, _ in long_audio.truth[:2]]  # the good part came out first
