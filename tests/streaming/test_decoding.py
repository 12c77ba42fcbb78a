"""GreedyStreamDecoder: over a stream, offline greedy's labels and text; a label straddling a
chunk or an endpoint counts once; final word frames count from the segment's start."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode.greedy import GreedyDecoder
from ds2ray.streaming.decoding import GreedyStreamDecoder
from ds2ray.testing.logprobs import spelled_log_probs

VOCAB = Vocabulary.english()


def frames(*chars: str) -> np.ndarray:
    """One frame per char ('' is blank), p=0.9."""
    rows = np.full((len(chars), VOCAB.size), 0.1 / (VOCAB.size - 1), np.float32)
    for i, c in enumerate(chars):
        rows[i, VOCAB.labels.index(c)] = 0.9
    return np.log(rows)


def test_chunks_give_offline_greedy_text():
    logp = spelled_log_probs(VOCAB, list("hello world"))
    decoder = GreedyStreamDecoder(VOCAB)
    partials = []
    for start in range(0, len(logp), 3):
        decoder.accept(logp[start: start + 3])
        partials.append(decoder.partial())
    assert partials[-1] == "hello world" and partials[0] == "he"
    assert decoder.final().text == GreedyDecoder(VOCAB).decode(logp)


def test_a_run_split_by_chunks_and_by_an_endpoint_is_one_label():
    logp = frames("a", "a", "", "b", "b", "b", " ", "c", "c", "", "d")
    offline = GreedyDecoder(VOCAB).decode(logp)  # "ab cd"
    decoder = GreedyStreamDecoder(VOCAB)
    decoder.accept(logp[:1])
    decoder.accept(logp[1:4])  # "a" continues across the chunk edge
    decoder.accept(logp[4:5])
    first = decoder.final()  # endpoint inside the run of "b"
    decoder.accept(logp[5:])
    second = decoder.final()
    assert (first.text, second.text) == ("ab", "cd") and offline == "ab cd"
    assert [(w.word, w.start, w.end) for w in first.words] == [("ab", 0, 5)]
    # the second segment starts at frame 5: "b" carried in is not a label; "cd" spans frames 2..6
    assert [(w.word, w.start, w.end) for w in second.words] == [("cd", 2, 6)] and second.frames == 6
    assert decoder.final().text == "" and decoder.final().frames == 0


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match=f"expected \\(T, {VOCAB.size}\\)"):
        GreedyStreamDecoder(VOCAB).accept(np.zeros((3, 5), np.float32))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, kenlm_ready):
    from itertools import islice

    from ds2ray.data.english_text import builtin_sentences
    from ds2ray.testing.lm import build_tiny_lm

    sentences = [*islice(builtin_sentences(), 300), "the cat sat on the mat", "open the door"]
    return build_tiny_lm(tmp_path_factory.mktemp("lm"), sentences)


def test_beam_with_lm_in_chunks_equals_one_call_and_each_segment_is_an_utterance(tiny_lm):
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.decode.beam import BeamSearchDecoder
    from ds2ray.streaming.decoding import beam_stream_decoder
    from ds2ray.testing.logprobs import synthetic_log_probs

    rng = np.random.default_rng(0)
    config = DecoderConfig(type="beam", beam_width=16, lm_path=str(tiny_lm.model_path), alpha=0.8, beta=1.0)
    a = synthetic_log_probs("the cat sat on the mat", VOCAB, rng, "confusable", confusion=0.3)
    b = synthetic_log_probs("open the door", VOCAB, rng, "confusable", confusion=0.3)
    offline = BeamSearchDecoder(VOCAB, config)
    factory = beam_stream_decoder(config)
    decoder = factory(VOCAB)
    partials = []
    for start in range(0, len(a), 7):
        decoder.accept(a[start: start + 7])
        partials.append(decoder.partial())
    first = decoder.final()
    for start in range(0, len(b), 5):
        decoder.accept(b[start: start + 5])
    second = decoder.final()
    assert first.text == offline.decode(a) and second.text == offline.decode(b)
    assert partials[-1].replace(" ", "") == first.text.replace(" ", "") and partials[0] != partials[-1]
    assert " ".join(w.word for w in first.words) == first.text and first.frames == len(a)
    assert factory(VOCAB).decoder is decoder.decoder  # one beam decoder (and LM) for every stream
