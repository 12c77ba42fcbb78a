"""Greedy CTC decoding and the error counts of the per-epoch dev report.

The full decoders (beam search, KenLM) live in ``ds2ray.decode``; training only needs best-path
collapse. The dev CER/WER are counted by :func:`ds2ray.metrics.utterance_errors`, the rule ``ds2ray
test`` scores with (spaces collapsed; Mandarin CER ignores them), so the dev numbers training
reports equal ``ds2ray test``'s on the same hypotheses. :func:`dev_stats` flattens the counts into
numbers a rank all-reduces; :func:`dev_rates` turns the summed numbers back into rates.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ds2ray.data.vocab import Vocabulary
from ds2ray.metrics import ErrorCounts, total, utterance_errors

_FIELDS = ("substitutions", "deletions", "insertions", "hits")


def greedy_collapse(logits: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """(B, T', V) scores, (B,) lengths -> label ids per utterance: argmax, merge repeats, drop blanks."""
    best = logits.argmax(dim=-1).cpu()
    out = []
    for row, n in zip(best, lengths.tolist()):
        ids = torch.unique_consecutive(row[: int(n)])
        out.append([int(i) for i in ids if i != 0])
    return out


def decode_texts(vocab: Vocabulary, ids: list[list[int]]) -> list[str]:
    return [vocab.decode(x) for x in ids]


def dev_errors(refs: Sequence[str], hyps: Sequence[str], language: str) -> tuple[ErrorCounts, ErrorCounts]:
    """``(word, char)`` totals of hypotheses against their (normalised) references."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    pairs = [utterance_errors(r, h, language) for r, h in zip(refs, hyps)]
    return total(w for w, _ in pairs), total(c for _, c in pairs)


def dev_stats(word: ErrorCounts, char: ErrorCounts) -> list[float]:
    """The counts as 8 numbers (word then char: substitutions, deletions, insertions, hits) to all-reduce."""
    return [float(getattr(c, f)) for c in (word, char) for f in _FIELDS]


def dev_rates(stats: Sequence[float]) -> dict[str, float]:
    """``{"dev_cer", "dev_wer"}`` (:attr:`ds2ray.metrics.ErrorCounts.rate`) from summed :func:`dev_stats`."""
    word, char = (ErrorCounts(*(int(round(v)) for v in stats[i:i + 4])) for i in (0, 4))
    return {"dev_cer": char.rate, "dev_wer": word.rate}
