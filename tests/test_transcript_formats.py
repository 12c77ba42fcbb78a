"""Transcript files: txt, json (round trip), SubRip and WebVTT cues (timestamps, long segments split at words)."""

from __future__ import annotations

import json

import pytest

from ds2ray.decode.timestamps import Segment, Word
from ds2ray.transcript_formats import Transcript, cues, format_transcript, timestamp, transcript_from_segments


def seg(start: float, words: list[tuple[str, float, float]], end: float | None = None) -> Segment:
    return Segment(start, end if end is not None else words[-1][2] + 0.1, " ".join(w for w, _, _ in words),
                   tuple(Word(*w) for w in words))


@pytest.fixture
def transcript() -> Transcript:
    return transcript_from_segments([
        seg(0.5, [("open", 0.62, 0.9), ("the", 0.96, 1.1), ("gate", 1.2, 1.5)]),
        Segment(2.0, 3.0, "", ()),  # a segment with no words is dropped
        seg(3725.25, [("play", 3725.3, 3725.6), ("music", 3725.7, 3726.2)]),
    ], duration=3727.0)


def test_timestamps():
    assert timestamp(3725.5) == "01:02:05,500"
    assert timestamp(0.0004, ".") == "00:00:00.000" and timestamp(59.9996) == "00:01:00,000"
    assert timestamp(-0.01) == "00:00:00,000"


def test_txt_and_json(transcript):
    assert transcript.text == "open the gate play music"
    assert format_transcript(transcript, "txt") == "open the gate\nplay music\n"
    data = json.loads(format_transcript(transcript, "json"))
    assert data["text"] == transcript.text and data["duration"] == 3727.0
    assert data["segments"][1] == {"start": 3725.25, "end": 3726.3, "text": "play music",
                                   "words": [{"word": "play", "start": 3725.3, "end": 3725.6},
                                             {"word": "music", "start": 3725.7, "end": 3726.2}]}
    assert Transcript.from_dict(data).to_dict() == transcript.to_dict()


def test_srt_and_vtt(transcript):
    assert format_transcript(transcript, "srt") == (
        "1\n00:00:00,500 --> 00:00:01,600\nopen the gate\n\n"
        "2\n01:02:05,250 --> 01:02:06,300\nplay music\n")
    assert format_transcript(transcript, "vtt") == (
        "WEBVTT\n\n00:00:00.500 --> 00:00:01.600\nopen the gate\n\n01:02:05.250 --> 01:02:06.300\nplay music\n")
    assert format_transcript(Transcript((), 5.0), "srt") == "" and format_transcript(Transcript((), 5.0), "txt") == ""


def test_long_segments_become_several_cues_timed_by_their_words():
    words = [(f"w{i}", i * 1.0, i * 1.0 + 0.5) for i in range(20)]  # 20 s of one word a second
    t = transcript_from_segments([seg(0.0, words)], 20.0)
    out = cues(t, max_seconds=7.0, max_chars=84)
    assert [(a, b) for a, b, _ in out] == [(0.0, 6.5), (7.0, 13.5), (14.0, 19.5)]
    assert " ".join(text for _, _, text in out) == t.text
    chars = cues(t, max_seconds=60.0, max_chars=11)  # "w0 w1 w2 w3" is 11 characters
    assert all(len(text) <= 11 for _, _, text in chars) and chars[0][2] == "w0 w1 w2 w3"


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="choose one of txt, json, srt, vtt"):
        format_transcript(Transcript((), 1.0), "docx")


def test_mandarin_joins_without_spaces():
    t = transcript_from_segments([Segment(0.0, 1.0, "你好", ()), Segment(1.0, 2.0, "世界", ())], 2.0, "zh")
    assert t.text == "你好世界"
