"""Character vocabularies for CTC: build from manifests, save/load, encode/decode.

Index 0 is the CTC blank; characters follow in the order stored. Out-of-vocabulary characters are
never dropped silently: :meth:`Vocabulary.encode` raises :class:`OutOfVocabularyError` naming them,
and :func:`build_vocabulary` reports every character under the count threshold.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ds2ray import fileio
from ds2ray.data.text import normalize_text

BLANK = "<blank>"
ENGLISH_CHARS = tuple(" 'abcdefghijklmnopqrstuvwxyz")


class OutOfVocabularyError(ValueError):
    def __init__(self, text: str, missing: Sequence[str]) -> None:
        self.text, self.missing = text, list(missing)
        super().__init__(
            f"characters not in the vocabulary: {''.join(sorted(set(missing)))!r} in {text[:80]!r}. "
            "Rebuild the vocabulary (ds2ray vocab) over this data, or clean the transcript."
        )


@dataclass(frozen=True)
class Vocabulary:
    """CTC labels: ``chars[i]`` has id ``i + 1``; id 0 is the blank."""

    chars: tuple[str, ...]
    language: str = "en"
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("vocabulary characters must be unique")
        if any(len(c) != 1 for c in self.chars):
            raise ValueError("vocabulary entries must be single characters")
        object.__setattr__(self, "_index", {c: i + 1 for i, c in enumerate(self.chars)})

    @classmethod
    def english(cls) -> "Vocabulary":
        return cls(ENGLISH_CHARS, "en")

    @property
    def size(self) -> int:
        """Number of CTC classes, blank included."""
        return len(self.chars) + 1

    @property
    def labels(self) -> list[str]:
        """Labels as pyctcdecode wants them: blank as ''."""
        return [""] + list(self.chars)

    def normalize(self, text: str) -> str:
        return normalize_text(text, self.language)

    def oov(self, text: str) -> list[str]:
        return [c for c in text if c not in self._index]

    def encode(self, text: str, *, normalize: bool = True) -> list[int]:
        """Text -> ids (no blank). Raises :class:`OutOfVocabularyError` or ``ValueError`` if empty."""
        if normalize:
            text = self.normalize(text)
        if not text:
            raise ValueError("empty transcript after normalisation")
        try:
            return [self._index[c] for c in text]
        except KeyError:
            raise OutOfVocabularyError(text, self.oov(text)) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; the blank (0) is skipped, nothing is collapsed (see the decoders for CTC)."""
        chars = self.chars
        return "".join(chars[i - 1] for i in ids if i > 0)

    def diff(self, other: "Vocabulary") -> str:
        """Human-readable difference, '' when the label sequences are equal."""
        if self.chars == other.chars:
            return ""
        mine, theirs = set(self.chars), set(other.chars)
        parts = []
        if mine - theirs:
            parts.append(f"only in the first: {''.join(sorted(mine - theirs))!r}")
        if theirs - mine:
            parts.append(f"only in the second: {''.join(sorted(theirs - mine))!r}")
        if not parts:
            parts.append("same characters in a different order")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"language": self.language, "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        return cls(tuple(data["chars"]), data.get("language", "en"))

    def save(self, path: str | Path) -> None:
        with fileio.atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, ensure_ascii=False, indent=1)
            fh.write("\n")

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        """Load a vocabulary JSON (``{"language", "chars"}``) or a seed-style text file, one char a line."""
        raw = Path(path).read_text(encoding="utf-8")
        if raw.lstrip().startswith("{"):
            return cls.from_dict(json.loads(raw))
        chars = [line.rstrip("\n") for line in raw.splitlines(keepends=True)]
        chars = [" " if c in ("<space>", "") else c for c in chars]
        return cls(tuple(dict.fromkeys(chars)), "zh" if any(ord(c) > 0x2e80 for c in chars) else "en")


@dataclass
class VocabReport:
    vocabulary: Vocabulary
    counts: Counter
    dropped: dict[str, int]  # characters under the threshold: their counts
    utterances: int

    def summary(self) -> str:
        msg = f"{len(self.vocabulary.chars)} characters from {self.utterances} transcripts"
        if self.dropped:
            shown = ", ".join(f"{c!r}×{n}" for c, n in sorted(self.dropped.items(), key=lambda kv: -kv[1])[:20])
            msg += f"; {len(self.dropped)} character(s) under the count threshold left out: {shown}"
        return msg


def build_vocabulary(texts: Iterable[str], *, language: str = "en", count_threshold: int = 0) -> VocabReport:
    """Count normalised characters; keep those seen more than ``count_threshold`` times.

    English keeps letters in a fixed order (space, apostrophe, a-z first); others by frequency.
    """
    counts: Counter = Counter()
    n = 0
    for text in texts:
        counts.update(normalize_text(text, language))
        n += 1
    kept = {c for c, k in counts.items() if k > count_threshold}
    if language == "en" and " " in counts:
        kept.add(" ")  # the word separator is never thresholded away
    dropped = {c: k for c, k in counts.items() if c not in kept}
    if language == "en":
        order = [c for c in ENGLISH_CHARS if c in kept] + sorted(kept - set(ENGLISH_CHARS))
    else:
        order = sorted(kept, key=lambda c: (-counts[c], c))
    return VocabReport(Vocabulary(tuple(order), language), counts, dropped, n)
