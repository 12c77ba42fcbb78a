"""The restated prefix search returns what pyctcdecode's own search returns, frame compression included."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, build_decoder
from ds2ray.decode.beam import _normalise, compress_blank_runs
from ds2ray.decode.prefix_search import prefix_beam_search
from ds2ray.testing.logprobs import random_log_probs, spelled_log_probs

EN = Vocabulary.english()
ZH = Vocabulary(tuple("今天气很好我们出去玩"), "zh")


def random_ctc(rng: np.random.Generator, vocab: Vocabulary, T: int, spread: float) -> np.ndarray:
    """(T, V) CTC-like log-probs: mostly blank frames, random characters, 1-3 competitors per frame."""
    return _normalise(random_log_probs(rng, vocab, T, spread))


def reference(decoder, lp: np.ndarray, prune_history: bool) -> list[tuple[str, float]]:
    """pyctcdecode's own search on the same normalised matrix."""
    from pyctcdecode.language_model import HotwordScorer

    cfg = decoder.config
    beams = decoder._decoder._decode_logits(lp, beam_width=cfg.beam_width, beam_prune_logp=cfg.beam_prune_logp,
                                            token_min_logp=cfg.token_min_logp, prune_history=prune_history,
                                            hotword_scorer=HotwordScorer.build_scorer(None))
    return [(b[0], b[-1]) for b in beams]


def ours(decoder, lp: np.ndarray, prune_history: bool) -> list[tuple[str, float]]:
    cfg = decoder.config
    found = prefix_beam_search(lp, decoder._labels, decoder._decoder._language_model, beam_width=cfg.beam_width,
                               beam_prune_logp=cfg.beam_prune_logp, token_min_logp=cfg.token_min_logp,
                               prune_history=prune_history)
    return [(t, s) for t, _, s in found]


@pytest.mark.parametrize("use_lm", [False, True])
@pytest.mark.parametrize("vocab_name", ["en", "zh"])
def test_same_beams_and_scores_as_pyctcdecode(request, use_lm, vocab_name):
    vocab = EN if vocab_name == "en" else ZH
    lm = request.getfixturevalue("en_lm" if vocab_name == "en" else "zh_lm") if use_lm else None
    rng = np.random.default_rng(1 + use_lm)
    for width, prune_history in ((8, True), (24, False)):
        dec = build_decoder(DecoderConfig(type="beam", beam_width=width, alpha=0.7, beta=0.5,
                                          lm_path=str(lm) if lm else None), vocab)
        dec._apply_params()
        for spread in (0.05, 0.6):
            for _ in range(4):
                lp = random_ctc(rng, vocab, int(rng.integers(20, 60)), spread)
                expected, got = reference(dec, lp, prune_history), ours(dec, lp, prune_history)
                assert [t for t, _ in got] == [t for t, _ in expected]
                np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-12)


def test_blank_run_compression_changes_no_result(en_lm):
    rng = np.random.default_rng(7)
    dec = build_decoder(DecoderConfig(type="beam", beam_width=16, lm_path=str(en_lm)), EN)
    dec._apply_params()
    for _ in range(6):
        lp = random_ctc(rng, EN, 60, 0.02)
        short, dropped = compress_blank_runs(lp, dec.config.token_min_logp)
        assert len(short) < len(lp) and dropped < 0
        full, comp = ours(dec, lp, True), ours(dec, short, True)
        assert [t for t, _ in comp] == [t for t, _ in full]
        np.testing.assert_allclose([s + dropped for _, s in comp], [s for _, s in full], rtol=1e-9)


def test_hotwords_stay_in_the_restated_search(en_lm):
    lp = spelled_log_probs(EN, ["t", "h", "e", " ", {"k": 0.6, "c": 0.38}, "a", "t", " ", "s", "a", "t"])
    dec = build_decoder(DecoderConfig(type="beam", beam_width=32, lm_path=str(en_lm), alpha=0.8, beta=1.0,
                                      hotwords=("kat",), hotword_weight=20.0), EN)
    assert dec.engine in ("native", "python")
    assert dec.decode(lp) == "the kat sat"
