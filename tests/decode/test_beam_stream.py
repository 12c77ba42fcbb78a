"""Incremental beam decoding: frames fed in chunks give what one call gives."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, build_decoder, native
from ds2ray.lm.corpus import preprocess_english
from ds2ray.testing.logprobs import synthetic_log_probs

EN = Vocabulary.english()
TEXTS = ["the cat sat on the mat", "a dog ate my fish", "the fish sat in the bowl"]


@pytest.mark.parametrize("engine", ["native", "python"])
def test_chunked_feeding_equals_one_call(en_lm, monkeypatch, engine):
    monkeypatch.setenv(native.ENV_SWITCH, "1" if engine == "native" else "0")
    dec = build_decoder(DecoderConfig(type="beam", beam_width=24, lm_path=str(en_lm), alpha=0.8, beta=1.0,
                                      hotwords=(("fish", 3.0),)), EN)
    assert dec.engine == engine
    rng = np.random.default_rng(2)
    for text in TEXTS:
        lp = synthetic_log_probs(preprocess_english(text), EN, rng, "uncertain")
        for num_beams in (1, 3):
            whole = dec.decode_beams(lp, num_beams)
            for size in (1, 7, 40):
                stream = dec.begin(num_beams=num_beams)
                for start in range(0, len(lp), size):
                    stream.advance(lp[start:start + size])
                assert stream.frames == len(lp)
                got = stream.finish(num_beams)
                assert [t for t, _ in got] == [t for t, _ in whole]
                np.testing.assert_allclose([s for _, s in got], [s for _, s in whole], rtol=1e-6)
        assert dec.decode(lp) == text  # the synthetic frames spell it


def test_best_partial_grows_and_empty_streams(en_lm):
    dec = build_decoder(DecoderConfig(type="beam", beam_width=16, lm_path=str(en_lm)), EN)
    stream = dec.begin()
    assert stream.best() == "" and stream.finish() == [("", 0.0)]
    lp = synthetic_log_probs("the cat sat on the mat", EN, np.random.default_rng(0), "peaky")
    seen = []
    for start in range(0, len(lp), 10):
        stream.advance(lp[start:start + 10]).advance(lp[:0])
        seen.append(stream.best())
    assert "the cat sat on the mat".startswith(seen[len(seen) // 2])
    assert seen[-1] == stream.finish()[0][0] == "the cat sat on the mat"
    with pytest.raises(Exception, match="different vocabularies"):
        stream.advance(np.zeros((3, EN.size + 2), np.float32))


@pytest.mark.parametrize("engine", ["native", "python"])
def test_interleaved_streams_keep_their_own_weights(en_lm, monkeypatch, engine):
    monkeypatch.setenv(native.ENV_SWITCH, "1" if engine == "native" else "0")
    lp = synthetic_log_probs("the cat sat on the mat", EN, np.random.default_rng(4), "uncertain")
    base = DecoderConfig(type="beam", beam_width=16, lm_path=str(en_lm))
    a, b = build_decoder(base.replace(alpha=0.3), EN), build_decoder(base.replace(alpha=2.0), EN)
    expected = a.decode_beams(lp), b.decode_beams(lp)
    sa, sb = a.begin(), b.begin()
    for start in range(0, len(lp), 5):  # one LM shared by both decoders, steps interleaved
        sa.advance(lp[start:start + 5])
        sb.advance(lp[start:start + 5])
    got = sa.finish(), sb.finish()
    for g, e in zip(got, expected):
        assert [t for t, _ in g] == [t for t, _ in e]
        np.testing.assert_allclose([s for _, s in g], [s for _, s in e], rtol=1e-6)
    assert expected[0][0][1] != expected[1][0][1]
