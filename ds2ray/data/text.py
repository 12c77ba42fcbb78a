"""Text normalisation for English and Mandarin transcripts.

English: Unicode NFKC, lower case, typographic apostrophes to ``'``, punctuation to spaces,
spaces collapsed. Letters outside a-z and digits are *kept*, so that the vocabulary can count and
report them as out-of-vocabulary rather than drop them silently.

Mandarin: NFKC (full-width to half-width), punctuation and all whitespace removed, Latin letters
lower-cased.
"""

from __future__ import annotations

import unicodedata

LANGUAGES = ("en", "zh")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith(("P", "S"))


def normalize_english(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    chars = [" " if (_is_punct(c) and c != "'") else c for c in text]
    # Opening quotes and stray apostrophes go; "don't" and "dogs'" keep theirs.
    return " ".join(w.lstrip("'") for w in "".join(chars).split() if w.strip("'"))


def normalize_mandarin(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in text if not c.isspace() and not _is_punct(c))


def normalize_text(text: str, language: str = "en") -> str:
    if language == "en":
        return normalize_english(text)
    if language == "zh":
        return normalize_mandarin(text)
    raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")


def detect_language(texts: list[str]) -> str:
    """'zh' when most non-space characters are CJK ideographs, else 'en'."""
    cjk = other = 0
    for t in texts:
        for c in t:
            if c.isspace():
                continue
            if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf":
                cjk += 1
            else:
                other += 1
    return "zh" if cjk > other else "en"
