"""KenLM states by number: what the compiled beam search asks of the LM on a cache miss.

The compiled core (:mod:`ds2ray.decode.native`) keeps the LM's answers per (state number, word)
for the life of the process, so a warm decoder calls back into Python only for word contexts it has
not seen. The numbers are given here: a KenLM state is hashable and compares by its contents, so
equal contexts (the same last words, for an n-gram model) share one number whatever text led to them.

Each answer is exactly what pyctcdecode's ``LanguageModel.score`` computes before applying
``alpha``/``beta`` (the core applies them, in the same order): KenLM's log10 ``BaseScore`` and the
next state; per word, whether it counts as unknown (pyctcdecode's rule: outside the unigram list, or
unknown to KenLM). Nothing here depends on ``alpha``, ``beta`` or ``unk_score_offset``, so re-tuning
keeps every cached answer.
"""

from __future__ import annotations

import threading
from typing import Any


class LmStates:
    """Numbered KenLM states over a pyctcdecode ``LanguageModel`` (``_kenlm_model``, ``_unigram_set``,
    ``_char_trie``, ``score_boundary``). State 0 is the start of a sentence."""

    def __init__(self, language_model: Any) -> None:
        import kenlm

        self._kenlm = kenlm
        self.language_model = language_model
        self.model = language_model._kenlm_model
        self.unigrams = language_model._unigram_set
        self.order = int(language_model.order)
        start = language_model.get_start_state()
        self.states: list[Any] = [start]
        self._ids: dict[Any, int] = {start: 0}
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget every state but the start (the core empties its cache at the same time)."""
        with self._lock:
            start = self.states[0]
            self.states = [start]
            self._ids = {start: 0}

    def word_info(self, word: str) -> tuple[bool, bool]:
        """(KenLM knows ``word``, pyctcdecode counts it as unknown: outside the unigram list or KenLM)."""
        known = word in self.model
        return known, (len(self.unigrams) > 0 and word not in self.unigrams) or not known

    def score(self, state: int, word: str) -> tuple[float, int]:
        """(log10 score of ``word`` after state ``state``, next state number)."""
        end = self._kenlm.State()
        raw = self.model.BaseScore(self.states[state], word, end)
        with self._lock:
            sid = self._ids.get(end)
            if sid is None:
                sid = self._ids[end] = len(self.states)
                self.states.append(end)
        return raw, sid

    def end_score(self, state: int) -> float:
        """log10 score of ``</s>`` after state ``state`` (0 when the LM does not score boundaries)."""
        if not self.language_model.score_boundary:
            return 0.0
        return self.model.BaseScore(self.states[state], "</s>", self._kenlm.State())

    def prefix_words(self) -> list[str] | None:
        """The words of pyctcdecode's character trie (whose prefixes are not out of vocabulary), or
        None when it has none (every partial word is then out of vocabulary)."""
        if self.language_model._char_trie is None:
            return None
        return sorted(self.unigrams)
