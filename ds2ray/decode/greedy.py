"""Greedy (best-path) CTC decoding, batched on tensors.

Shapes: ``B`` batch, ``T`` frames, ``V`` classes (blank = id 0).

Per frame take the most likely class, merge runs of the same class, drop blanks. A blank between
two equal characters keeps both (``a _ a`` -> ``aa``), as CTC defines. The word frames of
:meth:`GreedyDecoder.hypotheses` come from that same best path (:func:`~ds2ray.decode.timestamps.path_spans`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ds2ray.decode.base import DecoderConfig, VocabularyMismatchError, check_log_probs, clean_text
from ds2ray.decode.timestamps import Hypothesis, path_spans, word_frames

if TYPE_CHECKING:
    from ds2ray.data.vocab import Vocabulary

BLANK_ID = 0


def pad_log_probs(log_probs: Sequence[np.ndarray | torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of ``(T_i, V)`` -> padded ``(B, T_max, V)`` float tensor and ``(B,)`` lengths."""
    mats = [torch.as_tensor(np.asarray(m) if not isinstance(m, torch.Tensor) else m) for m in log_probs]
    lengths = torch.tensor([m.shape[0] for m in mats], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(mats, batch_first=True), lengths


def greedy_ids(log_probs: torch.Tensor, lengths: torch.Tensor | None = None) -> list[list[int]]:
    """Best-path label ids per utterance.

    Args:
        log_probs: ``(B, T, V)`` scores (log-probs or logits: only the argmax matters).
        lengths: ``(B,)`` valid frames per utterance; ``None`` means all ``T``.

    Returns:
        ``B`` lists of ids, repeats merged and blanks removed.
    """
    if log_probs.dim() != 3:
        raise ValueError(f"greedy_ids: expected (B, T, V) scores, got shape {tuple(log_probs.shape)}")
    B, T, _ = log_probs.shape
    best = log_probs.argmax(dim=-1)  # (B, T)
    prev = torch.nn.functional.pad(best[:, :-1], (1, 0), value=-1)  # (B, T): class of frame t-1
    keep = (best != prev) & (best != BLANK_ID)  # (B, T)
    if lengths is not None:
        keep &= torch.arange(T, device=best.device)[None, :] < lengths.to(best.device)[:, None]
    best, keep = best.cpu(), keep.cpu()
    return [best[b][keep[b]].tolist() for b in range(B)]


class GreedyDecoder:
    """:class:`~ds2ray.decode.base.Decoder` taking the best class per frame."""

    def __init__(self, vocab: "Vocabulary", config: DecoderConfig | None = None) -> None:
        self.vocab = vocab
        self.config = config or DecoderConfig(type="greedy")

    def decode(self, log_probs: np.ndarray | torch.Tensor) -> str:
        """``(T, V)`` -> text."""
        return self.decode_batch([log_probs])[0]

    def decode_batch(self, log_probs: Sequence[np.ndarray | torch.Tensor] | torch.Tensor,
                     lengths: torch.Tensor | None = None) -> list[str]:
        """A list of ``(T_i, V)`` matrices, or a padded ``(B, T, V)`` tensor with ``(B,)`` lengths."""
        padded, lengths = self._padded(log_probs, lengths)
        if padded is None:
            return []
        return [clean_text(self.vocab.decode(ids), self.vocab.language) for ids in greedy_ids(padded, lengths)]

    def hypotheses(self, log_probs: Sequence[np.ndarray | torch.Tensor] | torch.Tensor,
                   lengths: torch.Tensor | None = None) -> list[Hypothesis]:
        """As :meth:`decode_batch`, each text with its words' frames on the best path."""
        padded, lengths = self._padded(log_probs, lengths)
        if padded is None:
            return []
        B, T, _ = padded.shape
        best = padded.argmax(dim=-1).cpu().numpy()  # (B, T)
        sizes = [T] * B if lengths is None else [int(n) for n in lengths]
        out = []
        for b in range(B):
            ids, starts, ends = path_spans(best[b, : sizes[b]])
            text = clean_text(self.vocab.decode(ids.tolist()), self.vocab.language)
            out.append(Hypothesis(text, word_frames(ids, starts, ends, self.vocab), sizes[b]))
        return out

    def _padded(self, log_probs: Sequence[np.ndarray | torch.Tensor] | torch.Tensor,
                lengths: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Validated ``(B, T, V)`` scores and ``(B,)`` lengths (``None``: all ``T``); ``None`` scores
        for an empty list."""
        if isinstance(log_probs, torch.Tensor) and log_probs.dim() == 3:
            padded = log_probs
        elif isinstance(log_probs, np.ndarray) and log_probs.ndim == 3:
            padded = torch.from_numpy(log_probs)
        else:
            if lengths is not None:
                raise ValueError("lengths are only meaningful with a padded (B, T, V) batch")
            if len(log_probs) == 0:
                return None, None
            for i, m in enumerate(log_probs):
                if not isinstance(m, torch.Tensor):
                    check_log_probs(m, self.vocab, what=f"log-probs #{i}")
            padded, lengths = pad_log_probs(log_probs)
        if padded.shape[-1] != self.vocab.size:
            raise VocabularyMismatchError(
                f"log-probs have {padded.shape[-1]} classes but the vocabulary has {self.vocab.size} "
                f"({len(self.vocab.chars)} characters + blank): the acoustic model and the decoder use "
                "different vocabularies. Decode with the vocabulary stored in the checkpoint."
            )
        return padded, lengths
