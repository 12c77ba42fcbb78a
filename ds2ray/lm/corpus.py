"""Corpus preprocessing for n-gram LMs, as the seed prepared its English and Mandarin corpora.

English (one sentence a line): Unicode-normalised and lower-cased; numbers written out as words
("1,000" -> "one thousand", "3.5" -> "three point five", "21st" -> "twenty first", "50%" -> "fifty
percent"); accents removed; only ``[a-z0-9' ]`` kept (anything else becomes a space); spaces
collapsed. Optionally the ``top_n`` most frequent words are kept and every other word becomes
``unk_token`` (lmplz rejects a literal ``<unk>`` in its input, so the seed's ``UNKNOWNWORD`` is used).

Mandarin: punctuation and whitespace removed (``ds2ray.data.text.normalize_mandarin``), then the
characters separated by spaces so that each character is one LM "word".

A corpus is plain text, or a JSON-lines manifest whose ``text`` fields are used.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ds2ray.data.text import normalize_english, normalize_mandarin
from ds2ray.lm.load import DEFAULT_UNK_TOKEN

# --- numbers as words ------------------------------------------------------------------------------
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def _under_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def num2words(n: int) -> str:
    """Cardinal English words without "and" or hyphens: ``1001`` -> ``"one thousand one"``.

    Numbers of 10**21 and more are read digit by digit.
    """
    if n < 0:
        return "minus " + num2words(-n)
    if n < 1000:
        return " ".join(_under_thousand(n))
    if n >= 1000 ** len(_SCALES):
        return " ".join(_ONES[int(d)] for d in str(n))
    words: list[str] = []
    for scale in reversed(range(len(_SCALES))):
        group = (n // 1000 ** scale) % 1000
        if group:
            words += _under_thousand(group) + ([_SCALES[scale]] if scale else [])
    return " ".join(words)


def ordinal_words(n: int) -> str:
    """``21`` -> ``"twenty first"``, ``12`` -> ``"twelfth"``, ``40`` -> ``"fortieth"``."""
    words = num2words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def digits_words(digits: str) -> str:
    """Read a digit string one digit at a time (decimal fractions, leading zeros)."""
    return " ".join(_ONES[int(d)] for d in digits)


_THOUSANDS_SEP = re.compile(r"(?<=\d),(?=\d{3}\b)")
_DECIMAL = re.compile(r"(\d+)\.(\d+)")
_PERCENT = re.compile(r"(\d)\s*%")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_NUMBER = re.compile(r"\d+")
_NOT_KEPT = re.compile(r"[^a-z0-9' ]+")


def _number(match: re.Match) -> str:
    digits = match.group(0)
    if len(digits) > 1 and digits.startswith("0"):
        return f" {digits_words(digits)} "
    return f" {num2words(int(digits))} "


def spell_numbers(text: str) -> str:
    """Write numbers in ``text`` as English words (commas, decimals, ordinals, percent)."""
    text = _THOUSANDS_SEP.sub("", text)
    text = _PERCENT.sub(r"\1 percent", text)
    text = _DECIMAL.sub(lambda m: f"{m.group(1)} point {digits_words(m.group(2))}", text)
    text = _ORDINAL.sub(lambda m: f" {ordinal_words(int(m.group(1)))} ", text)
    return _NUMBER.sub(_number, text)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def preprocess_english(line: str) -> str:
    """One line of English as the LM sees it: ``"In 1999, Café 2nd!"`` -> ``"in one thousand nine
    hundred ninety nine cafe second"``."""
    text = unicodedata.normalize("NFKC", line).lower()
    text = spell_numbers(text)
    text = normalize_english(_strip_accents(text))
    text = _NOT_KEPT.sub(" ", text)
    return " ".join(w for w in text.split() if w.strip("'"))


def preprocess_mandarin(line: str) -> str:
    """``"你好，世界！"`` -> ``"你 好 世 界"``."""
    return " ".join(normalize_mandarin(line))


PREPROCESSORS = {"en": preprocess_english, "zh": preprocess_mandarin}


# --- corpus files ----------------------------------------------------------------------------------
def read_corpus_lines(path: str | Path) -> Iterator[str]:
    """Lines of a text corpus, or the ``text`` fields of a JSON-lines manifest (``.jsonl``/``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus not found: {path}")
    is_manifest = path.suffix in (".jsonl", ".json")
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, 1):
            if not is_manifest:
                yield line.rstrip("\n")
                continue
            if not line.strip():
                continue
            try:
                yield str(json.loads(line)["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{line_no}: not a manifest line with a 'text' field ({err})") from err


@dataclass(frozen=True)
class CorpusStats:
    lines: int  # non-empty lines written
    tokens: int  # words (English) or characters (Mandarin) written
    types: int  # distinct words before the top-N cut
    kept_types: int  # distinct words kept (the rest became the unknown token)
    unk_tokens: int  # word occurrences replaced by the unknown token

    def summary(self) -> str:
        msg = f"{self.lines} lines, {self.tokens} tokens, {self.types} word types"
        if self.kept_types < self.types:
            msg += f"; kept the top {self.kept_types}, {self.unk_tokens} tokens mapped to the unknown token"
        return msg


def prepare_corpus(paths: Iterable[str | Path], out_path: str | Path, *, language: str = "en",
                   top_n: int | None = None, unk_token: str = DEFAULT_UNK_TOKEN) -> CorpusStats:
    """Preprocess corpora into one clean text file for lmplz (one sentence a line).

    With ``top_n``, words outside the ``top_n`` most frequent become ``unk_token`` (two passes over
    the input: count, then write). Empty lines are dropped.
    """
    try:
        pre = PREPROCESSORS[language]
    except KeyError:
        raise ValueError(f"unknown corpus language {language!r}; expected one of {sorted(PREPROCESSORS)}") from None
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")
    paths = [Path(p) for p in paths]

    def clean_lines() -> Iterator[str]:
        for p in paths:
            for line in read_corpus_lines(p):
                clean = pre(line)
                if clean:
                    yield clean

    counts: Counter = Counter()
    for clean in clean_lines():
        counts.update(clean.split())
    keep = None
    if top_n is not None and len(counts) > top_n:
        keep = {w for w, _ in counts.most_common(top_n)}
    lines = tokens = unk = 0
    from ds2ray import fileio

    with fileio.atomic_write(str(out_path), "wb") as fh:
        for clean in clean_lines():
            words = clean.split()
            if keep is not None:
                mapped = [w if w in keep else unk_token for w in words]
                unk += sum(1 for w in words if w not in keep)
                words = mapped
            fh.write((" ".join(words) + "\n").encode("utf-8"))
            lines += 1
            tokens += len(words)
    if lines == 0:
        raise ValueError(f"corpus {', '.join(map(str, paths))} has no usable text after preprocessing ({language})")
    return CorpusStats(lines, tokens, len(counts), len(keep) if keep is not None else len(counts), unk)
