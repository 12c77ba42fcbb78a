"""Hotwords: words and phrases the beam search favours, each with its own weight.

``--hotwords "kubernetes,new york:8,ray serve:12.5"`` -> :func:`parse_hotwords` ->
``(("kubernetes", 10.0), ("new york", 8.0), ("ray serve", 12.5))`` (weight: natural-log score
added per occurrence; ``DecoderSettings.hotword_weight`` when not given).

Scoring (the Python search here and the compiled core in ``csrc/prefix_search.cpp`` implement the
same rule, checked equal by the tests):

- a phrase is a sequence of words; the finished words of a prefix are matched against a trie of the
  phrases, and the state is the set of trie nodes matching a suffix of those words (several phrase
  prefixes may be under way at once);
- when a word finishes and completes a phrase, the phrase's weight is added to the prefix for good
  (every occurrence counts);
- while a phrase is under way, the prefix gets the share of the weight that it has spelled:
  ``weight * characters matched / characters of the phrase`` (spaces between its words counted),
  the best over all phrases it may be spelling. That transient bonus rises smoothly to the full
  weight, so a hotword prefix survives the beam pruning before its last letter; it replaces the
  LM's out-of-vocabulary penalty for the partial word (rare words are often missing from the LM),
  as pyctcdecode does for its hotwords;
- the words of the phrases are words: the LM's unknown-word penalty (``unk_score_offset``) is not
  applied to them (a rare word is usually missing from the LM, and that penalty would cost more
  than any sensible weight gives back). The LM still scores them in context, as ``<unk>``.

Text that matches no hotword is scored exactly as without hotwords.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

#: The separator of a phrase and its weight in a ``--hotwords`` item.
WEIGHT_SEP = ":"

Phrase = tuple[str, float]


class HotwordError(ValueError):
    """A ``--hotwords`` specification or a config's ``hotwords`` entry is malformed."""


def parse_hotwords(spec: str | None, default_weight: float = 10.0) -> tuple[Phrase, ...]:
    """``"word,phrase:weight,..."`` -> ``((phrase, weight), ...)``, phrases with single spaces.

    Empty items are skipped (``"a,,b"``); an empty or ``None`` spec gives ``()``. Raises
    :class:`HotwordError` naming the bad item when a weight is not a finite number or a phrase is empty.
    """
    if spec is None:
        return ()
    out: list[Phrase] = []
    for n, raw in enumerate(spec.split(","), 1):
        item = raw.strip()
        if not item:
            continue
        phrase, weight = item, default_weight
        if WEIGHT_SEP in item:
            phrase, _, number = item.rpartition(WEIGHT_SEP)
            try:
                weight = float(number)
            except ValueError:
                raise HotwordError(f"--hotwords item {n} {item!r}: {number.strip()!r} after ':' is not a number; "
                                   "write 'phrase' or 'phrase:weight', e.g. 'new york:8'") from None
        out.append(check_phrase(phrase, weight, f"--hotwords item {n} {item!r}"))
    return tuple(out)


def coerce_hotwords(value: object, default_weight: float = 10.0, where: str = "hotwords") -> tuple[Phrase, ...]:
    """Hotwords as a request or a file may give them: ``None``, a ``--hotwords`` string, or a list of
    phrases and ``[phrase, weight]`` pairs -> ``((phrase, weight), ...)``. :class:`HotwordError`
    names ``where`` and the bad item."""
    if value is None:
        return ()
    if isinstance(value, str):
        return parse_hotwords(value, default_weight)
    if not isinstance(value, (list, tuple)):
        raise HotwordError(f"{where}: expected a string 'word,phrase:weight' or a list of phrases and "
                           f"[phrase, weight] pairs, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(check_phrase(item, default_weight, f"{where}[{i}]"))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append(check_phrase(item[0], item[1], f"{where}[{i}]"))
        else:
            raise HotwordError(f"{where}[{i}]: expected a phrase or a [phrase, weight] pair, got {item!r}")
    return tuple(out)


def check_phrase(phrase: str, weight: float, where: str) -> Phrase:
    """One ``(phrase, weight)``, whitespace collapsed; :class:`HotwordError` naming ``where`` if bad."""
    if not isinstance(phrase, str):
        raise HotwordError(f"{where}: a hotword must be text, got {type(phrase).__name__}")
    words = phrase.split()
    if not words:
        raise HotwordError(f"{where}: empty hotword; give a word or phrase before ':'")
    try:
        w = float(weight)
    except (TypeError, ValueError):
        raise HotwordError(f"{where}: weight {weight!r} is not a number") from None
    if not math.isfinite(w):
        raise HotwordError(f"{where}: weight must be a finite number, got {weight!r}")
    return " ".join(words), w


def normalise_config_hotwords(items: Iterable, default_weight: float, owner: str) -> tuple:
    """A config's ``hotwords`` as stored: plain phrases (old configs; they take ``hotword_weight``)
    stay strings, ``[phrase, weight]`` pairs become tuples."""
    out: list = []
    for i, item in enumerate(items):
        where = f"{owner}.hotwords[{i}]"
        if isinstance(item, str):
            out.append(check_phrase(item, default_weight, where)[0])
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append(check_phrase(item[0], item[1], where))
        else:
            raise HotwordError(f"{where}: expected a phrase or a [phrase, weight] pair, got {item!r}")
    return tuple(out)


def config_phrases(items: Sequence, default_weight: float) -> tuple[Phrase, ...]:
    """``(phrase, weight)`` of every entry of a config's normalised ``hotwords``."""
    return tuple((item, float(default_weight)) if isinstance(item, str) else (item[0], float(item[1]))
                 for item in items)


def phrase_words(phrase: str, language: str) -> tuple[str, ...]:
    """The LM words of ``phrase``: English words; Mandarin characters (the LM's words are characters)."""
    if language == "zh":
        return tuple("".join(phrase.split()))
    return tuple(phrase.split())


@dataclass
class _Node:
    word: str = ""
    prefix_chars: int = 0  # characters before this word, its leading space included
    children: dict[str, int] = field(default_factory=dict)
    through: list[tuple[float, int]] = field(default_factory=list)  # (weight, phrase characters)
    end_bonus: float = 0.0


class HotwordScorer:
    """The scoring rule of the module docstring, for the Python search (states are ints; state 0:
    nothing under way). Same trie, node order and sums as the compiled ``Hotwords``."""

    def __init__(self, phrases: Sequence[tuple[Sequence[str], float]]) -> None:
        self.nodes = [_Node()]
        self.words: set[str] = {w for words, _ in phrases for w in words}
        for words, weight in phrases:
            if not words:
                continue
            total = sum(len(w) for w in words) + len(words) - 1
            node, chars = 0, 0
            for i, word in enumerate(words):
                child = self.nodes[node].children.get(word)
                if child is None:
                    child = len(self.nodes)
                    self.nodes[node].children[word] = child
                    self.nodes.append(_Node(word=word, prefix_chars=chars + (1 if i else 0)))
                self.nodes[child].through.append((float(weight), total))
                chars += len(word) + (1 if i else 0)
                node = child
            self.nodes[node].end_bonus += float(weight)
        self.states: list[tuple[int, ...]] = [()]
        self._state_ids: dict[tuple[int, ...], int] = {(): 0}
        self._trans: dict[tuple[int, str], tuple[int, float]] = {}
        self._partial: dict[tuple[int, str], float | None] = {}

    def advance(self, state: int, word: str) -> tuple[int, float]:
        """(state after the finished ``word``, weight of the phrases it completes)."""
        key = (state, word)
        hit = self._trans.get(key)
        if hit is not None:
            return hit
        nxt = sorted(c for c in (self.nodes[n].children.get(word) for n in (*self.states[state], 0)) if c is not None)
        bonus = 0.0
        for n in nxt:
            bonus += self.nodes[n].end_bonus
        active = tuple(n for n in nxt if self.nodes[n].children)
        sid = self._state_ids.get(active)
        if sid is None:
            sid = self._state_ids[active] = len(self.states)
            self.states.append(active)
        hit = self._trans[key] = (sid, bonus)
        return hit

    def partial(self, state: int, part: str) -> float | None:
        """The transient bonus of the partial word ``part``; None when no phrase continues with it."""
        key = (state, part)
        if key in self._partial:
            return self._partial[key]
        best: float | None = None
        starts = (*self.states[state], 0) if part else self.states[state]
        for n in starts:
            for c in self.nodes[n].children.values():
                child = self.nodes[c]
                if not child.word.startswith(part):
                    continue
                matched = child.prefix_chars + len(part)
                for weight, total in child.through:
                    v = weight * float(matched) / float(total)
                    if best is None or v > best:
                        best = v
        self._partial[key] = best
        return best
