"""Word and character error rates (edit distance through jiwer), with their counts.

A corpus error rate is total errors over total reference units (the seed's ``test.py`` did the
same), not a mean of per-utterance rates. English CER counts the spaces between words (single
spaces; leading/trailing/multiple spaces do not count); Mandarin CER ignores whitespace entirely,
since Mandarin text has none.

An empty reference has no units: its rate is its error count (0.0 when the hypothesis is empty too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

ERROR_RATE_TYPES = ("wer", "cer")


@dataclass(frozen=True)
class ErrorCounts:
    """Alignment counts of one utterance or a whole set. ``ref_len`` = hits + substitutions + deletions."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0

    @property
    def ref_len(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference units (errors / 1 for an empty reference)."""
        return self.errors / max(self.ref_len, 1)

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(self.substitutions + other.substitutions, self.deletions + other.deletions,
                           self.insertions + other.insertions, self.hits + other.hits)

    def to_dict(self) -> dict:
        return {**asdict(self), "ref_len": self.ref_len, "errors": self.errors, "rate": self.rate}

    def summary(self, unit: str = "words") -> str:
        return (f"{self.rate:.4f} ({self.errors} errors / {self.ref_len} {unit}: {self.substitutions} sub, "
                f"{self.deletions} del, {self.insertions} ins, {self.hits} hits)")


class WordCharRates:
    """Mixin for results that hold ``word`` and ``char`` :class:`ErrorCounts`: their ``wer`` and ``cer``."""

    word: ErrorCounts
    char: ErrorCounts

    @property
    def wer(self) -> float:
        return self.word.rate

    @property
    def cer(self) -> float:
        return self.char.rate


def _counts(out) -> ErrorCounts:
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, out.hits)


def word_errors(ref: str, hyp: str) -> ErrorCounts:
    """Word-level alignment counts of one hypothesis against its reference (split on whitespace)."""
    import jiwer

    ref_words, hyp_words = ref.split(), hyp.split()
    if not ref_words:
        return ErrorCounts(insertions=len(hyp_words))
    if not hyp_words:
        return ErrorCounts(deletions=len(ref_words))
    return _counts(jiwer.process_words(" ".join(ref_words), " ".join(hyp_words)))


def _char_text(text: str, ignore_spaces: bool) -> str:
    return "".join(text.split()) if ignore_spaces else " ".join(text.split())


def char_errors(ref: str, hyp: str, *, ignore_spaces: bool = False) -> ErrorCounts:
    """Character-level counts; spaces count as characters unless ``ignore_spaces`` (Mandarin)."""
    import jiwer

    ref_c, hyp_c = _char_text(ref, ignore_spaces), _char_text(hyp, ignore_spaces)
    if not ref_c:
        return ErrorCounts(insertions=len(hyp_c))
    if not hyp_c:
        return ErrorCounts(deletions=len(ref_c))
    return _counts(jiwer.process_characters(ref_c, hyp_c))


def utterance_errors(ref: str, hyp: str, language: str = "en") -> tuple[ErrorCounts, ErrorCounts]:
    """``(word counts, char counts)``; Mandarin CER ignores spaces."""
    return word_errors(ref, hyp), char_errors(ref, hyp, ignore_spaces=language == "zh")


def _check_pairs(refs: Sequence[str], hyps: Sequence[str]) -> None:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")


def total(counts: Iterable[ErrorCounts]) -> ErrorCounts:
    out = ErrorCounts()
    for c in counts:
        out = out + c
    return out


def wer(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
    """Corpus word error counts (``.rate`` is the WER)."""
    _check_pairs(refs, hyps)
    return total(word_errors(r, h) for r, h in zip(refs, hyps))


def cer(refs: Sequence[str], hyps: Sequence[str], *, language: str = "en") -> ErrorCounts:
    """Corpus character error counts (``.rate`` is the CER); Mandarin ignores spaces."""
    _check_pairs(refs, hyps)
    return total(char_errors(r, h, ignore_spaces=language == "zh") for r, h in zip(refs, hyps))


def default_error_rate_type(language: str) -> str:
    """The seed's default: WER for English, CER for Mandarin."""
    return "cer" if language == "zh" else "wer"
