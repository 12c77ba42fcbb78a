"""Broad English text for synthetic speech and n-gram LMs, from free text packaged in Debian main.

Sources (each an extractor that yields raw sentences; a source whose files are not installed is
skipped with a warning):

==========  ==========================================================  ==================  ============
source      what                                                        Debian package      licence
==========  ==========================================================  ==================  ============
builtin     ds2ray's own everyday sentences (``resources/sentences_en``)  (this package)      the project's
wordnet     example sentences in WordNet 3.0 glosses (``"..."``)           ``wordnet-base``    WordNet 3.0 (free)
gcide       quotations in the GNU Collaborative International Dictionary   ``dict-gcide``      GPL-2+
web         the World English Bible (modern English), split in sentences   ``sword-text-web``  public domain
                                                                           + ``diatheke``
fortunes    ``fortunes-min`` (fortunes, literature, riddles)               ``fortunes-min``    BSD (UC Berkeley)
==========  ==========================================================  ==================  ============

The KJV (``bible-kjv-text``) is not used: its verses are the same text as the WEB's in 1611 English
(thee, thou, hath), which is the wrong language model for modern speech.

Every sentence is normalised the way transcripts and LM corpora are
(:func:`ds2ray.lm.corpus.preprocess_english`: lower case, numbers spelled out, accents removed,
only ``[a-z' ]``), kept when it has ``min_words``..``max_words`` words, de-duplicated across
sources (the first source listed keeps a sentence), and dropped when it is in ``exclude`` (the
dev and test transcripts: a sentence the model is scored on must never be trained on).
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ds2ray.lm.corpus import preprocess_english

log = logging.getLogger(__name__)

WORDNET_DIR = Path("/usr/share/wordnet")
GCIDE_DICT = Path("/usr/share/dictd/gcide.dict.dz")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNE_FILES = ("fortunes", "literature", "riddles")
WEB_MODULE = "engWEB2015eb"  # sword-text-web's module name
WEB_CONF = Path("/usr/share/sword/mods.d") / f"{WEB_MODULE}.conf"
_SENTENCE_END = re.compile(r"(?<=[.!?;])[\"'”’)]*\s+")
_TAG = re.compile(r"<[^>]*>")
_DROPPED_ELEMENTS = re.compile(r"<(title|note)\b[^>]*>.*?</\1>", re.S)
_VERSE_LABEL = re.compile(r"(?:[1-3] )?[A-Z][a-z]+(?: (?:of|[A-Z][a-z]+))* \d+:\d+: ")


def split_sentences(text: str) -> list[str]:
    """Split running text after ``. ! ? ;`` (and a closing quote or bracket) followed by space."""
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


# ---------------------------------------------------------------------------------------------
# extractors: raw sentences per source


def builtin_sentences() -> Iterator[str]:
    text = resources.files("ds2ray.resources").joinpath("sentences_en.txt").read_text(encoding="utf-8")
    yield from (line.strip() for line in text.splitlines() if line.strip())


def wordnet_examples(wordnet_dir: Path = WORDNET_DIR) -> Iterator[str]:
    """The quoted examples of WordNet glosses: ``... | a gloss; "the team is a unit"``."""
    for part in ("noun", "verb", "adj", "adv"):
        path = wordnet_dir / f"data.{part}"
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or "|" not in line:  # the licence header
                    continue
                gloss = line.split("|", 1)[1]
                yield from re.findall(r'"([^"]+)"', gloss)


def gcide_quotations(path: Path = GCIDE_DICT) -> Iterator[str]:
    """Quotations of the 1913 Webster / GCIDE entries: ``"Therewith aback she started." --Chaucer``."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    for entry in text.split("\n\n"):
        flat = " ".join(entry.split())
        for quote in re.findall(r'"([^"]{10,400})"\s*(?:--|\[)', flat):
            if "{" in quote or "\\" in quote:  # cross-references and pronunciations, not prose
                continue
            yield from split_sentences(quote)


def web_bible_sentences(module: str = WEB_MODULE) -> Iterator[str]:
    """The World English Bible through ``diatheke`` (OSIS markup: word tags become spaces, titles
    and notes are dropped), split into sentences."""
    proc = subprocess.run(["diatheke", "-b", module, "-f", "OSIS", "-k", "Gen 1:1-Rev 22:21"],
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"diatheke -b {module} failed ({proc.returncode}): {proc.stderr[-300:]}")
    for line in proc.stdout.splitlines():
        labels = list(_VERSE_LABEL.finditer(line))
        if not labels:  # the trailing "(module)" line
            continue
        # diatheke puts a psalm's heading before each of its verses, and the glossary after the
        # last verse (past a run of spaces): keep only the verse text
        verse = re.split(r"\s{4,}", line[labels[-1].end():])[0]
        yield from split_sentences(_TAG.sub(" ", _DROPPED_ELEMENTS.sub(" ", verse)))


def fortune_sentences(fortunes_dir: Path = FORTUNES_DIR) -> Iterator[str]:
    """Sentences of the fortune cookies (``%``-separated), attribution lines (``-- Author``) dropped."""
    for name in FORTUNE_FILES:
        path = fortunes_dir / name
        if not path.is_file():
            continue
        for cookie in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            lines = [ln for ln in cookie.splitlines() if not ln.strip().startswith("--")]
            yield from split_sentences(" ".join(lines))


@dataclass(frozen=True)
class TextSource:
    name: str
    extract: Callable[[], Iterable[str]]
    available: Callable[[], bool]
    package: str  # the Debian package that provides it ("" for built-in text)


SOURCES: dict[str, TextSource] = {s.name: s for s in (
    TextSource("builtin", builtin_sentences, lambda: True, ""),
    TextSource("wordnet", wordnet_examples, lambda: (WORDNET_DIR / "data.noun").is_file(), "wordnet-base"),
    TextSource("gcide", gcide_quotations, GCIDE_DICT.is_file, "dict-gcide"),
    TextSource("web", web_bible_sentences,
               lambda: shutil.which("diatheke") is not None and WEB_CONF.is_file(), "sword-text-web diatheke"),
    TextSource("fortunes", fortune_sentences, lambda: (FORTUNES_DIR / "fortunes").is_file(), "fortunes-min"),
)}


# ---------------------------------------------------------------------------------------------
# normalise, filter, de-duplicate, exclude


def normalize_sentence(text: str) -> str:
    """The transcript form: ``"In 1999, he paid $5!"`` -> ``"in one thousand nine hundred ninety
    nine he paid five"`` (lower case, ``[a-z' ]``, numbers spelled out)."""
    return preprocess_english(text)


def _usable(words: list[str], min_words: int, max_words: int, max_word_chars: int = 20) -> bool:
    return min_words <= len(words) <= max_words and all(len(w) <= max_word_chars for w in words) \
        and sum(len(w) == 1 for w in words) <= max(1, len(words) // 3)  # not spelled-out initials


@dataclass
class SourceCount:
    raw: int = 0  # sentences extracted
    kept_length: int = 0  # normalised and within the word limits
    duplicates: int = 0  # already given by this or an earlier source
    excluded: int = 0  # in the exclude set (dev/test transcripts)
    kept: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class EnglishText:
    """Sentences per source (normalised, unique across sources, minus the excluded ones)."""

    sentences: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, SourceCount] = field(default_factory=dict)

    def all_sentences(self) -> list[str]:
        return [s for part in self.sentences.values() for s in part]

    def summary(self) -> str:
        return ", ".join(f"{name} {c.kept}" for name, c in self.counts.items())


def build_english_text(sources: Iterable[str], *, exclude: Iterable[str] = (), min_words: int = 3,
                       max_words: int = 25, extra: dict[str, Iterable[str]] | None = None) -> EnglishText:
    """Collect, normalise, filter and de-duplicate the sentences of ``sources`` (names of
    :data:`SOURCES`), dropping every sentence equal to one of ``exclude`` after normalisation.

    ``extra``: more named sources of raw sentences (e.g. a test's own text); a name in ``sources``
    that is not installed is skipped with a warning.
    """
    excluded = {normalize_sentence(s) for s in exclude}
    excluded.discard("")
    extractors: dict[str, Callable[[], Iterable[str]]] = {}
    for name in sources:
        if name not in SOURCES:
            raise ValueError(f"unknown text source {name!r}; known: {sorted(SOURCES)}")
        src = SOURCES[name]
        if not src.available():
            log.warning("text source %s is not installed (Debian: apt-get install %s); skipping it",
                        name, src.package)
            continue
        extractors[name] = src.extract
    for name, lines in (extra or {}).items():
        extractors[name] = lambda lines=lines: lines
    result = EnglishText()
    seen: set[str] = set()
    for name, extract in extractors.items():
        count = SourceCount()
        kept: list[str] = []
        for raw in extract():
            count.raw += 1
            clean = normalize_sentence(raw)
            if not _usable(clean.split(), min_words, max_words):
                continue
            count.kept_length += 1
            if clean in seen:
                count.duplicates += 1
                continue
            seen.add(clean)
            if clean in excluded:
                count.excluded += 1
                continue
            kept.append(clean)
        count.kept = len(kept)
        result.sentences[name] = kept
        result.counts[name] = count
        log.info("text source %s: %s", name, count.to_dict())
    return result
