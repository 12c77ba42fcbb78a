"""Word timestamps from the CTC alignment: which output frames spell each word, and when that is.

Shapes: ``T`` output frames, ``V`` classes (blank = id 0), ``U`` labels of a hypothesis, ``S = 2U + 1``
alignment states (blank, label 1, blank, label 2, ..., blank).

A decoder first finds the text; the frames come afterwards, from one CTC path that spells it:

- greedy: its own best path (:func:`path_spans`), which is also the best path spelling its text;
- beam search: the best path spelling the chosen text, computed once for the final hypothesis,
  outside the search loop: the greedy path when the texts agree, else :func:`ctc_align` (Viterbi
  forced alignment).

A label's span is its first frame to one past its last frame on that path; a word starts at the
first frame of its first character and ends at the end of the last frame of its last character
(:func:`word_frames`). Frames become seconds in :meth:`Hypothesis.timed`, with the seconds per
output frame of :func:`ds2ray.model.lengths.output_frame_seconds` (the one place that knows it).

:class:`Segment` ``{start, end, text, words: [{word, start, end}]}`` is what outputs carry; a long
recording cut into pieces gives one segment per piece, each timed with its piece's ``offset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from ds2ray.data.vocab import Vocabulary

BLANK_ID = 0


@dataclass(frozen=True)
class WordFrames:
    """One word and its output frames: ``start`` (first frame) to ``end`` (one past the last)."""

    word: str
    start: int
    end: int


@dataclass(frozen=True)
class Word:
    """One word and its times in seconds from the start of the audio."""

    word: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3)}


@dataclass(frozen=True)
class Segment:
    """A stretch of audio (``start``..``end`` seconds), its text and its timed words."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
                "words": [w.to_dict() for w in self.words]}


@dataclass(frozen=True)
class Hypothesis:
    """A decoder's text for one utterance of ``frames`` output frames, with each word's frames.

    ``" ".join(w.word for w in words) == text`` for English; Mandarin words are single characters
    and ``"".join(...) == text``.
    """

    text: str
    words: tuple[WordFrames, ...]
    frames: int

    def timed(self, frame_seconds: float, offset: float = 0.0) -> Segment:
        """Frames -> seconds: frame ``t`` starts at ``offset + t * frame_seconds``."""
        if frame_seconds <= 0:
            raise ValueError(f"frame_seconds must be > 0, got {frame_seconds}")
        words = tuple(Word(w.word, offset + w.start * frame_seconds, offset + w.end * frame_seconds)
                      for w in self.words)
        return Segment(offset, offset + self.frames * frame_seconds, self.text, words)


def path_spans(path: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A frame-level path ``(T,)`` of class ids -> its labels ``(U,)`` and their ``starts``/``ends``
    ``(U,)`` (first frame, one past the last), repeats merged and blanks dropped as CTC does."""
    path = np.asarray(path)
    if len(path) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    change = np.flatnonzero(path[1:] != path[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(path)]))
    labels = path[starts]
    keep = labels != BLANK_ID
    return labels[keep].astype(np.int64), starts[keep], ends[keep]


def ctc_align(log_probs: np.ndarray, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The most likely CTC path of ``(T, V)`` log-probs that spells ``ids`` (Viterbi forced alignment).

    Returns ``starts``, ``ends`` ``(U,)``: each label's first frame and one past its last frame on
    that path. Raises ``ValueError`` when no path of ``T`` frames spells ``ids`` (CTC needs a frame
    per label plus one blank between equal neighbours).
    """
    ids_arr = np.asarray(ids, dtype=np.int64)
    U, T = len(ids_arr), len(log_probs)
    if U == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    if T == 0:
        raise ValueError(f"no CTC path of 0 frames spells {U} labels")
    S = 2 * U + 1
    ext = np.zeros(S, np.int64)
    ext[1::2] = ids_arr
    skip_ok = np.zeros(S, bool)  # state s may be entered from s - 2: a label after a different label
    skip_ok[3::2] = ids_arr[1:] != ids_arr[:-1]
    skip_pen = np.where(skip_ok, 0.0, -np.inf)[2:]  # (S - 2,)
    emit = np.asarray(log_probs, dtype=np.float64)[:, ext]  # (T, S)
    # alpha[t, s]: score of the best path through frames 0..t that is in state s at frame t
    alpha = np.full((T, S), -np.inf)
    alpha[0, :2] = emit[0, :2]
    for t in range(1, T):
        prev, cur = alpha[t - 1], alpha[t]
        cur[0] = prev[0]
        np.maximum(prev[1:], prev[:-1], out=cur[1:])  # stay, or step from s - 1
        np.maximum(cur[2:], prev[:-2] + skip_pen, out=cur[2:])  # or skip the blank from s - 2
        cur += emit[t]
    s = S - 1 if alpha[T - 1, S - 1] >= alpha[T - 1, S - 2] else S - 2
    if not np.isfinite(alpha[T - 1, s]):
        raise ValueError(f"no CTC path of {T} frames spells these {U} labels (too few frames)")
    states = np.empty(T, np.int64)
    for t in range(T - 1, 0, -1):  # back through the same choices (ties: stay, then step)
        states[t] = s
        prev = alpha[t - 1]
        best, came = prev[s], s
        if s >= 1 and prev[s - 1] > best:
            best, came = prev[s - 1], s - 1
        if s >= 2 and skip_ok[s] and prev[s - 2] > best:
            came = s - 2
        s = came
    states[0] = s
    frames = np.flatnonzero(states % 2 == 1)  # frames on a label, in order
    label_of = (states[frames] - 1) // 2  # (n,) non-decreasing
    order = np.arange(U)
    starts = frames[np.searchsorted(label_of, order, side="left")]
    ends = frames[np.searchsorted(label_of, order, side="right") - 1] + 1
    return starts, ends


def word_frames(ids: Sequence[int], starts: Sequence[int], ends: Sequence[int],
                vocab: "Vocabulary") -> tuple[WordFrames, ...]:
    """Labels with their spans -> words with theirs. English words end at the space label;
    Mandarin words are single characters (as its character LM counts them)."""
    chars = vocab.labels
    per_char = vocab.language == "zh"
    words: list[WordFrames] = []
    word, w_start, w_end = "", 0, 0
    for i, s, e in zip(ids, starts, ends):
        c = chars[int(i)]
        if c == " " or c == "":
            if word:
                words.append(WordFrames(word, w_start, w_end))
            word = ""
            continue
        if per_char:
            words.append(WordFrames(c, int(s), int(e)))
            continue
        if not word:
            w_start = int(s)
        word += c
        w_end = int(e)
    if word:
        words.append(WordFrames(word, w_start, w_end))
    return tuple(words)


def text_ids(text: str, vocab: "Vocabulary") -> list[int]:
    """The labels a decoder's ``text`` was spelled with: English words joined by one space label;
    Mandarin characters alone (its decoder separates words without a space label)."""
    if vocab.language == "zh":
        text = "".join(text.split())
    else:
        text = " ".join(text.split())
    return vocab.encode(text, normalize=False) if text else []


def align_text(log_probs: np.ndarray, text: str, vocab: "Vocabulary") -> Hypothesis:
    """``text`` (a decoder's output for these ``(T, V)`` log-probs) with its words' frames, from
    the best CTC path that spells it."""
    ids = text_ids(text, vocab)
    starts, ends = ctc_align(log_probs, ids)
    return Hypothesis(text, word_frames(ids, starts, ends, vocab), len(log_probs))
