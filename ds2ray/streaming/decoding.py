"""Streaming decoders: log-prob frames in as they come, partial text, a final hypothesis per segment.

Shapes: ``T`` output frames, ``V`` classes (blank = id 0).

:class:`StreamDecoder` is the seam: the recognizer (:mod:`ds2ray.streaming.recognizer`) calls
``accept`` with each run of new frames, ``partial`` after it, and ``final`` at each endpoint, which
ends a segment and starts the next on the same stream. A decoder keeps whatever search state it
needs between calls: :class:`GreedyStreamDecoder` the best path's last class,
:class:`BeamStreamDecoder` (prefix beam search + KenLM, :func:`beam_stream_decoder`) its beam of
prefixes and their LM states. A decoder plugs in as a factory ``(Vocabulary) -> StreamDecoder``
(:data:`DecoderFactory`) without changing the recognizer.

:class:`GreedyStreamDecoder` gives, over a whole stream, exactly the labels offline greedy decoding
(:class:`~ds2ray.decode.greedy.GreedyDecoder`) gives on the same log-probs: the best path's last
class is carried across chunks and across segments, so a label whose frames straddle a chunk or an
endpoint is counted once, in the segment where it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode.base import clean_text
from ds2ray.decode.timestamps import BLANK_ID, Hypothesis, align_text, path_spans, word_frames

if TYPE_CHECKING:
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.decode.beam import BeamSearchDecoder


class StreamDecoder(Protocol):
    """A decoder that reads a stream's log-probs in order, segment after segment."""

    def accept(self, log_probs: np.ndarray) -> None:
        """The next frames ``(T, V)`` of the current segment (T may be 0)."""

    def partial(self) -> str:
        """The current segment's best text so far."""

    def final(self) -> Hypothesis:
        """The current segment's text, with word frames counted from the segment's first frame;
        later frames belong to a new segment."""


#: Builds a fresh decoder for a stream (one per stream: decoders keep state).
DecoderFactory = Callable[[Vocabulary], StreamDecoder]


class GreedyStreamDecoder:
    """Best-path decoding, one frame at a time. ``ids`` are the current segment's labels."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self._last = BLANK_ID  # the best path's class on the stream's latest frame
        self._carry = BLANK_ID  # ... on the frame before the segment's first one
        self._path: list[np.ndarray] = []  # the segment's best path, in pieces
        self.ids: list[int] = []

    def accept(self, log_probs: np.ndarray) -> None:
        if log_probs.ndim != 2 or log_probs.shape[1] != self.vocab.size:
            raise ValueError(f"GreedyStreamDecoder: expected (T, {self.vocab.size}) log-probs, got shape "
                             f"{log_probs.shape}")
        if not len(log_probs):
            return
        best = log_probs.argmax(axis=-1)  # (T,)
        prev = np.concatenate(([self._last], best[:-1]))
        self.ids.extend(int(i) for i in best[(best != prev) & (best != BLANK_ID)])
        self._path.append(best)
        self._last = int(best[-1])

    def partial(self) -> str:
        return clean_text(self.vocab.decode(self.ids), self.vocab.language)

    def final(self) -> Hypothesis:
        path = np.concatenate(self._path) if self._path else np.zeros(0, np.int64)
        # Prefix the class carried in: a run continuing the last segment's label is not a new label.
        ids, starts, ends = path_spans(np.concatenate(([self._carry], path)))
        if len(ids) and starts[0] == 0:
            ids, starts, ends = ids[1:], starts[1:], ends[1:]
        ids_list = ids.tolist()
        assert ids_list == self.ids, "greedy path and incremental labels disagree"
        text = clean_text(self.vocab.decode(ids_list), self.vocab.language)
        hyp = Hypothesis(text, word_frames(ids, starts - 1, ends - 1, self.vocab), len(path))
        self._path, self.ids, self._carry = [], [], self._last
        return hyp


class BeamStreamDecoder:
    """Prefix beam search (+ KenLM) as a :class:`StreamDecoder`, over the incremental search of
    :meth:`BeamSearchDecoder.begin <ds2ray.decode.beam.BeamSearchDecoder.begin>`: the beam of
    prefixes and their LM states is carried from chunk to chunk, so a segment fed in chunks gets the
    text one call on its frames gets. Each segment is its own utterance to the LM (a new search
    after every final). Final word frames come from the best CTC path spelling the final text
    (:func:`~ds2ray.decode.timestamps.align_text`), over the segment's log-probs, which it keeps.
    """

    def __init__(self, decoder: "BeamSearchDecoder") -> None:
        self.decoder = decoder
        self.vocab = decoder.vocab
        self._search = decoder.begin()
        self._frames: list[np.ndarray] = []

    def accept(self, log_probs: np.ndarray) -> None:
        self._search.advance(log_probs)
        if len(log_probs):
            self._frames.append(np.asarray(log_probs, np.float32))

    def partial(self) -> str:
        return self._search.best()

    def final(self) -> Hypothesis:
        text = self._search.finish(1)[0][0]
        log_probs = np.concatenate(self._frames) if self._frames else np.zeros((0, self.vocab.size), np.float32)
        hyp = align_text(log_probs, text, self.vocab) if len(log_probs) else Hypothesis("", (), 0)
        self._search, self._frames = self.decoder.begin(), []
        return hyp


def beam_stream_decoder(config: "DecoderConfig") -> DecoderFactory:
    """A :data:`DecoderFactory` of :class:`BeamStreamDecoder` for ``config`` (``type: beam``, an
    ``lm_path`` for KenLM): the beam decoder and its LM load once, on the first stream, and every
    stream shares them."""
    from ds2ray.decode.beam import BeamSearchDecoder

    built: dict[int, BeamSearchDecoder] = {}

    def factory(vocab: Vocabulary) -> StreamDecoder:
        key = id(vocab)
        if key not in built:
            built[key] = BeamSearchDecoder(vocab, config)
        return BeamStreamDecoder(built[key])

    return factory
