"""Hotwords: parsing ``--hotwords``, configs old and new, and the boost itself (real KenLM, both searches)."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.config import ConfigError
from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, build_decoder, native
from ds2ray.decode.hotwords import HotwordError, coerce_hotwords, parse_hotwords
from ds2ray.testing.logprobs import spelled_log_probs

EN = Vocabulary.english()
# "the cat sat on the ma?": the last letter is 't' (0.5) or 'x' (0.48); the LM knows "mat", not "max".
SAT_ON = ["t", "h", "e", " ", "c", "a", "t", " ", "s", "a", "t", " ", "o", "n", " ", "t", "h", "e", " ", "m", "a",
          {"t": 0.5, "x": 0.48}]
OTHER = ["a", " ", "d", "o", "g", " ", {"a": 0.6, "o": 0.38}, "t", "e", " ", "m", "y", " ", "f", "i", "s", "h"]


def test_parse_hotwords():
    assert parse_hotwords("max, new  york:8 ,ray serve:12.5,,") == (("max", 10.0), ("new york", 8.0),
                                                                   ("ray serve", 12.5))
    assert parse_hotwords("max", default_weight=3) == (("max", 3.0),)
    assert parse_hotwords("") == () and parse_hotwords(None) == ()
    with pytest.raises(HotwordError, match=r"item 2 'york:lots'.*'lots' after ':' is not a number"):
        parse_hotwords("max,york:lots")
    with pytest.raises(HotwordError, match=r"item 1 ':3'.*empty hotword"):
        parse_hotwords(":3")
    with pytest.raises(HotwordError, match="finite"):
        parse_hotwords("max:inf")


def test_hotwords_as_a_request_gives_them():
    assert coerce_hotwords(None) == ()
    assert coerce_hotwords("max,new york:8") == coerce_hotwords(["max", ["new york", 8]]) == (("max", 10.0),
                                                                                              ("new york", 8.0))
    with pytest.raises(HotwordError, match=r"request.hotwords\[1\]: expected a phrase"):
        coerce_hotwords(["max", {"w": 1}], where="request.hotwords")
    with pytest.raises(HotwordError, match="got int"):
        coerce_hotwords(3)


def test_configs_old_and_new_load():
    old = DecoderConfig.from_spec({"type": "beam", "params": {"hotwords": ["max"], "hotword_weight": 7}})
    assert old.hotwords == ("max",) and old.hotword_weight == 7.0
    new = DecoderConfig(type="beam", hotwords=parse_hotwords("max,new york:8"))
    assert DecoderConfig.from_spec(new.to_spec()) == new  # JSON lists come back as tuples
    import json

    assert DecoderConfig.from_dict(json.loads(json.dumps(new.to_dict()))) == new
    with pytest.raises(ConfigError, match=r"DecoderConfig.hotwords\[1\]: weight 'x' is not a number"):
        DecoderConfig(type="beam", hotwords=("max", ("york", "x")))


@pytest.mark.parametrize("engine", ["native", "python"])
def test_boosted_rare_word_is_recognised_and_other_text_is_unchanged(en_lm, monkeypatch, engine):
    monkeypatch.setenv(native.ENV_SWITCH, "1" if engine == "native" else "0")
    cfg = DecoderConfig(type="beam", beam_width=32, lm_path=str(en_lm), alpha=0.8, beta=1.0)
    plain = build_decoder(cfg, EN)
    boosted = build_decoder(cfg.replace(hotwords=parse_hotwords("max:6")), EN)
    assert boosted.engine == engine
    sat_on, other = spelled_log_probs(EN, SAT_ON), spelled_log_probs(EN, OTHER)
    assert plain.decode(sat_on) == "the cat sat on the mat"  # the LM knows "mat", never "max"
    assert boosted.decode(sat_on) == "the cat sat on the max"
    # text with nothing to boost: the same text and score
    assert boosted.decode_beams(other) == plain.decode_beams(other)
    assert plain.decode(other) == "a dog ate my fish"
    # per call, and a phrase: "on the max" boosts the same word; a phrase the text lacks boosts nothing
    assert plain.decode(sat_on, hotwords=[("on the max", 6.0)]) == "the cat sat on the max"
    assert plain.decode(sat_on, hotwords=[("under the max", 6.0)]) == "the cat sat on the mat"
    # a hundred unrelated hotwords change nothing
    many = [(f"zq{i:03d}", 10.0) for i in range(100)]
    assert plain.decode_beams(sat_on, hotwords=many) == plain.decode_beams(sat_on)


def test_phrase_weights_count_per_occurrence(en_lm):
    dec = build_decoder(DecoderConfig(type="beam", beam_width=32, lm_path=str(en_lm), alpha=0.8, beta=1.0), EN)
    lp = spelled_log_probs(EN, OTHER)
    base = dec.decode_beams(lp)[0][1]
    once = dec.decode_beams(lp, hotwords=[("my fish", 2.5)])[0][1]
    twice = dec.decode_beams(lp, hotwords=[("my fish", 2.5), ("fish", 1.0)])[0][1]
    assert once == pytest.approx(base + 2.5) and twice == pytest.approx(base + 3.5)
    assert np.isfinite(base)
