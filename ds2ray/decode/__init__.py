"""CTC decoders: log-probs ``(T, V)`` -> text.

- :mod:`.base`: the :class:`Decoder` protocol, :class:`DecoderConfig`, the name registry.
- :mod:`.greedy`: best path, batched on tensors.
- :mod:`.beam`: prefix beam search with a KenLM LM (English word LMs, Mandarin character LMs),
  whole utterances or fed in chunks (:meth:`~.beam.BeamSearchDecoder.begin`).
- :mod:`.native`: the compiled search core (``csrc/prefix_search.cpp``, pybind11), built by ``make setup``;
  :mod:`.prefix_search`: its Python twin (same results), the fallback; :mod:`.lm_states`: numbered KenLM
  states for the core's LM cache.
- :mod:`.hotwords`: ``--hotwords "word,phrase:weight"`` and the hotword scoring rule.
- :mod:`.timestamps`: word frames from the CTC alignment, and seconds (:class:`~.timestamps.Segment`).
- :mod:`.parallel`: many utterances over spawned processes or Ray actors, LM loaded once per worker.
"""

from ds2ray.decode.base import (
    Decoder,
    DecoderConfig,
    VocabularyMismatchError,
    build_decoder,
    decoder_names,
    register_decoder,
)

__all__ = ["Decoder", "DecoderConfig", "VocabularyMismatchError", "build_decoder", "decoder_names",
           "register_decoder"]
