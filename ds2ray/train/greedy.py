"""Greedy CTC decoding and error counts for the per-epoch dev report.

The full decoders (beam search, KenLM) live in ``ds2ray.decode``; training only needs best-path
collapse and character/word error counts that can be summed across ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ds2ray.data.vocab import Vocabulary


def greedy_collapse(logits: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """(B, T', V) scores, (B,) lengths -> label ids per utterance: argmax, merge repeats, drop blanks."""
    best = logits.argmax(dim=-1).cpu()
    out = []
    for row, n in zip(best, lengths.tolist()):
        ids = torch.unique_consecutive(row[: int(n)])
        out.append([int(i) for i in ids if i != 0])
    return out


@dataclass
class ErrorCounts:
    char_errors: int = 0
    chars: int = 0
    word_errors: int = 0
    words: int = 0

    def add(self, reference: str, hypothesis: str) -> None:
        import jiwer

        if not reference:
            self.char_errors += len(hypothesis)
            self.word_errors += len(hypothesis.split())
            return
        c = jiwer.process_characters(reference, hypothesis)
        self.char_errors += c.substitutions + c.deletions + c.insertions
        self.chars += c.substitutions + c.deletions + c.hits
        if hypothesis.strip():
            w = jiwer.process_words(reference, hypothesis)
            self.word_errors += w.substitutions + w.deletions + w.insertions
            self.words += w.substitutions + w.deletions + w.hits
        else:
            n = len(reference.split())
            self.word_errors += n
            self.words += n

    def as_list(self) -> list[float]:
        return [self.char_errors, self.chars, self.word_errors, self.words]


def decode_texts(vocab: Vocabulary, ids: list[list[int]]) -> list[str]:
    return [vocab.decode(x) for x in ids]
