"""The grid as a plain loop in this process, without Ray: the reference the Ray Tune search must match.

Shapes: ``log_probs`` holds one ``(T'_i, V)`` float32 matrix per utterance (``V`` classes, blank = 0).

:func:`evaluate_point` is the unit of work of both engines: with ``alpha``/``beta`` set on a warm
beam decoder (:meth:`~ds2ray.decode.beam.BeamSearchDecoder.reset_params`, no LM reload), decode
every utterance and count word and character errors against the normalised references. The Ray
Tune trainable (:mod:`ds2ray.tune.search`) calls the same function, so both engines compute the
same thing and only the scheduling differs.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ds2ray.decode.base import DecoderConfig
from ds2ray.metrics import total, utterance_errors
from ds2ray.tune.results import PointResult

if TYPE_CHECKING:
    from ds2ray.data.vocab import Vocabulary


def reference_texts(refs: Sequence[Any], language: str) -> list[str]:
    """Normalised reference transcripts from strings or manifest entries (anything with ``.text``)."""
    from ds2ray.data.text import normalize_text

    return [normalize_text(r if isinstance(r, str) else r.text, language) for r in refs]


def beam_config(lm_path: str, base: DecoderConfig | None = None) -> DecoderConfig:
    """The beam decoder config the grid runs: ``base``'s settings (beam width, pruning) with
    ``lm_path`` made absolute (Ray workers may run in another directory)."""
    if not lm_path:
        raise ValueError("tuning alpha/beta needs a language model: pass --lm (alpha weighs the LM, beta its words)")
    base = base if base is not None and base.type == "beam" else DecoderConfig(type="beam")
    unigrams = os.path.abspath(base.unigrams) if base.unigrams else None
    return base.replace(lm_path=os.path.abspath(lm_path), unigrams=unigrams)


def check_inputs(num_utterances: int, refs: Sequence[str], vocab: "Vocabulary", config: DecoderConfig) -> None:
    """Clear errors before any worker starts: an empty dev set, a length mismatch, a missing or
    unsuitable LM (the same checks as the beam decoder, without loading the model)."""
    from ds2ray.decode.beam import validate_lm_for_vocab

    if num_utterances == 0:
        raise ValueError("the dev set is empty: no utterances to tune alpha/beta on (check the manifest and "
                         "--min-duration/--max-duration/--num-batches)")
    if num_utterances != len(refs):
        raise ValueError(f"{num_utterances} log-prob matrices but {len(refs)} reference transcripts")
    validate_lm_for_vocab(config, vocab)


def evaluate_point(decoder: Any, log_probs: Sequence[np.ndarray], refs: Sequence[str], language: str) -> PointResult:
    """Decode ``log_probs`` with a warm beam ``decoder`` at its current ``alpha``/``beta`` (set by
    ``decoder.reset_params``) and count errors against the normalised ``refs``."""
    start, cpu = time.perf_counter(), time.process_time()
    word, char = [], []
    for lp, ref in zip(log_probs, refs):
        w, c = utterance_errors(ref, decoder.decode(lp), language)
        word.append(w)
        char.append(c)
    return PointResult(decoder.config.alpha, decoder.config.beta, total(word), total(char),
                       time.perf_counter() - start, time.process_time() - cpu)


def run_points(log_probs: Sequence[np.ndarray], refs: Sequence[str], vocab: "Vocabulary", config: DecoderConfig,
               points: Sequence[tuple[float, float]], on_point: Callable[[PointResult], None]) -> None:
    """Every ``(alpha, beta)`` in order with one decoder (the LM loaded once); ``on_point`` gets each result."""
    from ds2ray.decode import build_decoder

    decoder = build_decoder(config, vocab)
    for alpha, beta in points:
        decoder.reset_params(alpha=alpha, beta=beta)
        on_point(evaluate_point(decoder, log_probs, refs, vocab.language))
