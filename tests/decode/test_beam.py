"""Beam search with real KenLM models built from text in the test session."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, VocabularyMismatchError, build_decoder
from ds2ray.decode.beam import BeamSearchDecoder
from ds2ray.lm import load as lm_load
from ds2ray.testing.logprobs import spelled_log_probs

EN = Vocabulary.english()
# "the ?at sat": acoustically 'k' (0.6) beats 'c' (0.38); only the LM knows "cat".
AMBIGUOUS = ["t", "h", "e", " ", {"k": 0.6, "c": 0.38}, "a", "t", " ", "s", "a", "t"]


def beam(lm=None, vocab=EN, **kw) -> BeamSearchDecoder:
    cfg = DecoderConfig(type="beam", lm_path=str(lm) if lm else None, beam_width=32, alpha=0.8, beta=1.0, **kw)
    return build_decoder(cfg, vocab)


def test_lm_word_wins_where_acoustics_are_ambiguous(en_lm):
    lp = spelled_log_probs(EN, AMBIGUOUS)
    assert build_decoder({"type": "greedy"}, EN).decode(lp) == "the kat sat"
    assert beam().decode(lp) == "the kat sat"  # no LM: acoustics decide
    assert beam(en_lm).decode(lp) == "the cat sat"  # binary LM + unigrams sidecar
    assert beam(en_lm.with_suffix(".arpa")).decode(lp) == "the cat sat"  # ARPA, unigrams from the file


def test_reset_params_retunes_without_reloading(en_lm):
    lp = spelled_log_probs(EN, AMBIGUOUS)
    dec = beam(en_lm)
    loaded = dec.lm
    assert dec.decode(lp) == "the cat sat"
    dec.reset_params(alpha=0.0, beta=0.0)  # LM switched off: the acoustics win again
    assert dec.decode(lp) == "the kat sat"
    dec.reset_params(alpha=0.8, beta=1.0)
    assert dec.decode(lp) == "the cat sat"
    other = beam(en_lm, beam_prune_logp=-20.0)  # a second decoder shares the process's model
    assert other.lm is loaded and dec.lm is loaded
    assert lm_load.load_lm(en_lm) is loaded
    # ...and decoders sharing one model keep their own weights
    other.reset_params(alpha=0.0, beta=0.0)
    assert dec.decode(lp) == "the cat sat" and other.decode(lp) == "the kat sat"


def test_beams_are_ranked(en_lm):
    beams = beam(en_lm, beam_prune_logp=-60.0).decode_beams(spelled_log_probs(EN, AMBIGUOUS), num_beams=5)
    texts = [t for t, _ in beams]
    assert texts[0] == "the cat sat" and "the kat sat" in texts
    scores = [s for _, s in beams]
    assert scores == sorted(scores, reverse=True)


def test_mandarin_character_lm(zh_lm):
    vocab = Vocabulary(tuple("今天气很好我们出去玩"), "zh")
    # reference 今天天气很好; at 气 the acoustics prefer 我 (0.6 vs 0.38)
    lp = spelled_log_probs(vocab, ["今", "天", "天", {"我": 0.6, "气": 0.38}, "很", "好"])
    assert build_decoder({"type": "greedy"}, vocab).decode(lp) == "今天天我很好"
    assert beam(zh_lm, vocab).decode(lp) == "今天天气很好"
    assert beam(None, vocab).decode(lp) == "今天天我很好"


def test_lm_with_characters_the_vocab_cannot_spell(en_lm, tmp_path, kenlm_ready):
    from ds2ray.testing.lm import build_tiny_lm

    out = build_tiny_lm(tmp_path, ["the café sat", "the cat sat on the mat", "naïve cat"], name="accents", order=2,
                        language=None, repeat=3).model_path
    with pytest.raises(VocabularyMismatchError) as err:
        beam(out)
    msg = str(err.value)
    assert "'éï'" in msg and "café" in msg and "accents.bin" in msg


def test_mandarin_vocab_with_english_lm_is_refused(en_lm):
    with pytest.raises(VocabularyMismatchError, match="longer than one character"):
        beam(en_lm, Vocabulary(tuple("今天气"), "zh"))


def test_binary_without_unigram_list_is_refused(en_lm, tmp_path):
    lonely = tmp_path / "lonely.bin"
    shutil.copyfile(en_lm, lonely)
    with pytest.raises(lm_load.LanguageModelError, match="without its unigram list"):
        beam(lonely)
    words = tmp_path / "words.txt"
    words.write_text("the\ncat\nsat\n")
    assert beam(lonely, unigrams=str(words)).decode(spelled_log_probs(EN, AMBIGUOUS)) == "the cat sat"


def test_decoder_refuses_pickling(en_lm):
    import pickle

    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(beam(en_lm))


def test_log_probs_of_another_vocabulary_are_refused(en_lm):
    with pytest.raises(VocabularyMismatchError, match="different vocabularies"):
        beam(en_lm).decode(np.zeros((4, EN.size + 1), np.float32))
