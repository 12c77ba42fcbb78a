"""A long recording's transcript and its file formats: ``txt``, ``json``, ``srt``, ``vtt``.

:class:`Transcript` is what :meth:`ds2ray.transcribe.Recognizer.transcribe_long` returns: the
whole ``text`` and its timed :class:`~ds2ray.decode.timestamps.Segment` s. :func:`format_transcript`
writes it as

- ``txt``: the text, one line per segment;
- ``json``: ``{text, duration, segments: [{start, end, text, words: [{word, start, end}]}]}``;
- ``srt`` (SubRip) and ``vtt`` (WebVTT): numbered cues with ``HH:MM:SS,mmm`` / ``HH:MM:SS.mmm``
  times. A segment longer than ``max_cue_seconds`` or ``max_cue_chars`` is split into several
  cues at word boundaries, each timed by its own words, so subtitles stay readable.

The writers are a few lines each, by hand: the ``srt`` and ``webvtt-py`` packages would add two
dependencies to format a timestamp and join lines, and neither splits cues by word times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ds2ray.decode.timestamps import Segment, Word

FORMATS = ("txt", "json", "srt", "vtt")
#: subtitle cues: at most this long (seconds) and this many characters (two lines of 42)
MAX_CUE_SECONDS = 7.0
MAX_CUE_CHARS = 84


@dataclass(frozen=True)
class Transcript:
    """A recording's ``text`` (its segments' texts joined), ``segments`` in time order, ``duration`` seconds."""

    segments: tuple[Segment, ...]
    duration: float
    joiner: str = " "  # "" for languages written without spaces (Mandarin)
    text: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", self.joiner.join(s.text for s in self.segments if s.text))

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "duration": round(self.duration, 3),
                "segments": [s.to_dict() for s in self.segments]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], joiner: str = " ") -> "Transcript":
        """The inverse of :meth:`to_dict` (also reads the service's JSON answer: ``duration_s``)."""
        segments = tuple(
            Segment(float(s["start"]), float(s["end"]), s["text"],
                    tuple(Word(w["word"], float(w["start"]), float(w["end"])) for w in s.get("words", ())))
            for s in data.get("segments", ()))
        return cls(segments, float(data.get("duration", data.get("duration_s", 0.0))), joiner)


def timestamp(seconds: float, decimal: str = ",") -> str:
    """``3725.5`` -> ``01:02:05,500`` (``decimal="."`` for WebVTT)."""
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def cues(transcript: Transcript, max_seconds: float = MAX_CUE_SECONDS,
         max_chars: int = MAX_CUE_CHARS) -> list[tuple[float, float, str]]:
    """``(start, end, text)`` subtitle cues: each segment, split at words where it is too long."""
    out: list[tuple[float, float, str]] = []
    join = transcript.joiner
    for seg in transcript.segments:
        if not seg.text:
            continue
        if not seg.words or (seg.end - seg.start <= max_seconds and len(seg.text) <= max_chars):
            out.append((seg.start, seg.end, seg.text))
            continue
        group: list[Word] = []
        for word in seg.words:
            if group and (word.end - group[0].start > max_seconds
                          or len(join.join(w.word for w in (*group, word))) > max_chars):
                out.append((group[0].start, group[-1].end, join.join(w.word for w in group)))
                group = []
            group.append(word)
        if group:
            out.append((group[0].start, group[-1].end, join.join(w.word for w in group)))
    return out


def to_txt(transcript: Transcript) -> str:
    return "".join(f"{s.text}\n" for s in transcript.segments if s.text)


def to_json(transcript: Transcript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False) + "\n"


def to_srt(transcript: Transcript) -> str:
    return "\n".join(f"{i}\n{timestamp(a)} --> {timestamp(b)}\n{text}\n"
                     for i, (a, b, text) in enumerate(cues(transcript), start=1))


def to_vtt(transcript: Transcript) -> str:
    body = "\n".join(f"{timestamp(a, '.')} --> {timestamp(b, '.')}\n{text}\n" for a, b, text in cues(transcript))
    return "WEBVTT\n\n" + body


WRITERS: dict[str, Callable[[Transcript], str]] = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt}


def format_transcript(transcript: Transcript, fmt: str) -> str:
    """``transcript`` as the text of a ``fmt`` file (one of :data:`FORMATS`)."""
    try:
        return WRITERS[fmt](transcript)
    except KeyError:
        raise ValueError(f"unknown transcript format {fmt!r}; choose one of {', '.join(FORMATS)}") from None


def transcript_from_segments(segments: Sequence[Segment], duration: float, language: str = "en") -> Transcript:
    """A :class:`Transcript` of ``segments`` (empty ones dropped) for a vocabulary's ``language``."""
    return Transcript(tuple(s for s in segments if s.text), duration, "" if language == "zh" else " ")
