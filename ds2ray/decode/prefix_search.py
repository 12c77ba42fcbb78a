"""The CTC prefix beam search of pyctcdecode 0.5, restated (same results, ~2x faster), with hotword
phrases and incremental feeding: the Python twin of the compiled core (``csrc/prefix_search.cpp``).

Shapes: ``T`` frames, ``V`` labels; log-probs are ``(T, V)``, already log-softmaxed and clipped
the way pyctcdecode does it (:func:`ds2ray.decode.beam._normalise`).

pyctcdecode's ``BeamSearchDecoderCTC._decode_logits`` keeps per-word frame spans in every prefix,
re-joins strings for each prefix at every frame, and scans all prefixes in three passes (extend,
merge, score). The search below visits prefixes in the same order, merges them with the same keys,
sums their scores in the same order, asks the same ``LanguageModel`` for word and partial-word
scores, and prunes with the same rules (``beam_prune_logp``, top ``beam_width``, shared history),
so it returns the same texts with the same scores; ``tests/decode/test_prefix_search.py`` checks
that against pyctcdecode itself. It leaves out frame spans. Hotwords follow
:mod:`ds2ray.decode.hotwords` (not pyctcdecode's rule); without them nothing changes.

:class:`PrefixSearch` is one utterance fed in chunks: ``advance`` carries the prefixes from chunk to
chunk, ``best`` is the best partial text, ``finish`` scores the end of the utterance. The compiled
``Search`` has the same methods; :mod:`ds2ray.decode.beam` picks one.

A prefix is ``(text, word_part, last_char, logit_score)``: ``text`` holds finished words separated
by spaces, ``word_part`` the word being spelled, ``last_char`` the last label ('' = blank).
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Sequence

import numpy as np

from ds2ray.decode.hotwords import HotwordScorer

WORD_START = "\u2581"  # pyctcdecode's BPE word-start marker (our Mandarin labels use it)


def _logaddexp(a: float, b: float) -> float:
    # pyctcdecode's _sum_log_scores, same operation order
    if a >= b:
        return a + math.log(1 + math.exp(b - a))
    return b + math.log(1 + math.exp(a - b))


def _join(text: str, word: str) -> str:
    if not word:
        return text
    if not text:
        return word
    return text + " " + word


def _score(prefix: tuple) -> float:
    return prefix[4]


# Partial-word scores per LM wrapper and unk_score_offset, shared by every utterance in the process
# (pyctcdecode recomputes them per utterance through a character trie).
_PARTIAL: dict[tuple[int, float], dict[str, float]] = {}
_PARTIAL_MAX = 1_000_000


def _partial_scores(lm: Any) -> dict[str, float]:
    key = (id(lm), float(lm.unk_score_offset))
    table = _PARTIAL.get(key)
    if table is None or len(table) > _PARTIAL_MAX:
        if len(_PARTIAL) > 16:
            _PARTIAL.clear()
        table = _PARTIAL[key] = {}
    return table


def _lm_score(lm: Any, state: Any, word: str, is_last_word: bool, hot: HotwordScorer | None) -> tuple[float, Any]:
    """``lm.score``; for a hotword's word, the same arithmetic without the unknown-word penalty."""
    if hot is None or word not in hot.words:
        return lm.score(state, word, is_last_word=is_last_word)
    import kenlm
    from pyctcdecode.constants import LOG_BASE_CHANGE_FACTOR

    end_state = kenlm.State()
    score = lm._kenlm_model.BaseScore(state, word, end_state)
    if is_last_word:
        score = score + lm._get_raw_end_score(end_state)
    return lm.alpha * score * LOG_BASE_CHANGE_FACTOR + lm.beta, end_state


def supports(labels: Sequence[str]) -> bool:
    """Labels this search handles: characters (space = word end), or word-start tokens ``"▁x"``."""
    if any(lab.startswith(WORD_START) for lab in labels):
        return all(lab == "" or (len(lab) == 2 and lab[0] == WORD_START) for lab in labels)
    return all(len(lab) <= 1 for lab in labels)


class PrefixSearch:
    """One utterance's prefix beam search, fed frames in chunks.

    ``language_model``: a pyctcdecode ``LanguageModel`` (``score``, ``score_partial_token``,
    ``get_start_state``, ``order``) or ``None``; ``hotwords``: a :class:`HotwordScorer` or ``None``.
    """

    def __init__(self, labels: Sequence[str], language_model: Any | None, *, beam_width: int,
                 beam_prune_logp: float, token_min_logp: float, prune_history: bool,
                 hotwords: HotwordScorer | None = None) -> None:
        self.labels = list(labels)
        self.word_start = any(lab.startswith(WORD_START) for lab in labels)
        self.lm = language_model
        self.hot = hotwords
        self.beam_width = beam_width
        self.beam_prune_logp = beam_prune_logp
        self.token_min_logp = token_min_logp
        self.prune_history = prune_history
        lm = language_model
        # text -> (LM score, LM state, hotword bonus, hotword state)
        self.lm_cache: dict[str, tuple[float, Any, float, int]] = {
            "": (0.0, lm.get_start_state() if lm is not None else None, 0.0, 0)}
        self.part_scores = _partial_scores(lm) if lm is not None else {}
        self.history_n = max(1, (lm.order if lm is not None else 1) - 1)
        self.tails: dict[str, tuple[str, ...]] = {}
        self.beams: list[tuple[str, str, str, float]] = [("", "", "", 0.0)]
        self.best_total = 0.0
        self.frames = 0

    def _text_score(self, new_text: str, parent: str, word: str) -> tuple[float, Any, float, int]:
        lm, hot = self.lm, self.hot
        prev_score, state, prev_hw, hot_state = self.lm_cache[parent]
        score, end_state = prev_score, state
        if lm is not None:
            word_score, end_state = _lm_score(lm, state, word, False, hot)
            score = prev_score + word_score
        hw = prev_hw
        if hot is not None:
            hot_state, bonus = hot.advance(hot_state, word)
            hw = prev_hw + bonus
        hit = self.lm_cache[new_text] = (score, end_state, hw, hot_state)
        return hit

    def advance(self, log_probs: np.ndarray) -> None:
        """Extend the prefixes by the ``(T, V)`` frames of ``log_probs``."""
        labels, word_start, lm, hot = self.labels, self.word_start, self.lm, self.hot
        lm_cache, part_scores, tails = self.lm_cache, self.part_scores, self.tails
        history_n, beam_width, beam_prune_logp = self.history_n, self.beam_width, self.beam_prune_logp
        token_min_logp = self.token_min_logp
        scoring = lm is not None or hot is not None
        beams = self.beams
        for col in log_probs:
            idx_list = set(np.where(col >= token_min_logp)[0]) | {col.argmax()}  # pyctcdecode's visiting order
            merged: dict[tuple[str, str, str], list] = {}  # (new_text, word_part, last_char) -> [parent, word, score]
            for idx in idx_list:
                p = float(col[idx])
                char = labels[idx]
                for text, part, last, score in beams:
                    if char == "" or last == char:
                        key, parent, word = (text, part, char), text, ""
                    elif word_start:
                        key, parent, word = (_join(text, part), char[1:], char), text, part
                    elif char == " ":
                        key, parent, word = (_join(text, part), "", char), text, part
                    else:
                        key, parent, word = (text, part + char, char), text, ""
                    entry = merged.get(key)
                    if entry is None:
                        merged[key] = [parent, word, score + p]
                    else:
                        entry[2] = _logaddexp(entry[2], score + p)
            scored = []
            best = -math.inf
            for (new_text, part, last), (parent, word, logit) in merged.items():
                total = logit
                if scoring:
                    hit = lm_cache.get(new_text)
                    if hit is None:
                        hit = self._text_score(new_text, parent, word)
                    hp = None
                    if lm is not None:
                        total += hit[0]
                    if hot is not None:
                        total += hit[2]
                        hp = hot.partial(hit[3], part)
                        if hp is not None:
                            total += hp
                    if part and lm is not None and hp is None:
                        ps = part_scores.get(part)
                        if ps is None:
                            ps = part_scores[part] = lm.score_partial_token(part)
                        total += ps
                if total > best:
                    best = total
                scored.append((new_text, part, last, logit, total))
            floor = best + beam_prune_logp
            scored = [s for s in scored if s[4] >= floor]
            top = heapq.nlargest(beam_width, scored, key=_score)
            self.best_total = top[0][4]
            if self.prune_history:
                seen = set()
                beams = []
                for text, part, last, logit, _ in top:
                    tail = tails.get(text)
                    if tail is None:
                        tail = tails[text] = tuple(text.split()[-history_n:])
                    h = (tail, part, last)
                    if h not in seen:
                        seen.add(h)
                        beams.append((text, part, last, logit))
            else:
                beams = [s[:4] for s in top]
        self.beams = beams
        self.frames += len(log_probs)

    def best(self) -> tuple[str, float]:
        """(text so far, the word being spelled included; combined score) of the best prefix."""
        text, part, _, _ = self.beams[0]
        return _join(text, part), self.best_total

    def finish(self, num_beams: int) -> list[tuple[str, float, float]]:
        """The best ``num_beams`` hypotheses if the utterance ended now, as ``(text, acoustic log-prob,
        combined score)``, best first. The search may go on (this changes nothing)."""
        lm, hot = self.lm, self.hot
        # end of utterance: the word being spelled becomes the last word, then </s>
        final: dict[str, list] = {}
        for text, part, _, logit in self.beams:
            new_text = _join(text, part)
            entry = final.get(new_text)
            if entry is None:
                final[new_text] = [text, part, logit]
            else:
                entry[2] = _logaddexp(entry[2], logit)
        scored_end = []
        for new_text, (parent, word, logit) in final.items():
            total = logit
            if lm is not None:
                prev_score, state = self.lm_cache[parent][:2]
                score, _ = _lm_score(lm, state, word, True, hot)
                total += prev_score + score
            if hot is not None:
                _, _, hw, hot_state = self.lm_cache[parent]
                if word:
                    hw += hot.advance(hot_state, word)[1]
                total += hw
            scored_end.append((new_text, logit, total))
        best = max(s[2] for s in scored_end)
        scored_end = [s for s in scored_end if s[2] >= best + self.beam_prune_logp]
        top_end = heapq.nlargest(self.beam_width, scored_end, key=lambda s: s[2])
        return [(" ".join(text.split()), logit, total) for text, logit, total in top_end[:num_beams]]


def prefix_beam_search(
    log_probs: np.ndarray,
    labels: Sequence[str],
    language_model: Any | None,
    *,
    beam_width: int,
    beam_prune_logp: float,
    token_min_logp: float,
    prune_history: bool,
    hotwords: HotwordScorer | None = None,
) -> list[tuple[str, float, float]]:
    """Best prefixes of a whole utterance as ``(text, acoustic log-prob, combined score)``, best first."""
    search = PrefixSearch(labels, language_model, beam_width=beam_width, beam_prune_logp=beam_prune_logp,
                          token_min_logp=token_min_logp, prune_history=prune_history, hotwords=hotwords)
    search.advance(log_probs)
    return search.finish(beam_width)
