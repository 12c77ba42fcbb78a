"""Greedy CTC decoding on hand-built log-probs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, VocabularyMismatchError, build_decoder
from ds2ray.decode.greedy import greedy_ids
from ds2ray.testing.logprobs import onehot_log_probs

VOCAB = Vocabulary.english()  # id 0 blank, 1 ' ', 2 "'", 3 'a', 4 'b', ...


def ids_of(text: str) -> list[int]:
    return [VOCAB.labels.index(c) for c in text]


def test_repeats_merge_and_blanks_separate():
    a, b, c, sp = ids_of("abc ")
    frames = [0, a, a, 0, a, b, b, 0, sp, sp, c, 0]
    dec = build_decoder(DecoderConfig(type="greedy"), VOCAB)
    # a a -> a; blank then a -> second a; b b -> b; spaces merge
    assert dec.decode(onehot_log_probs(frames, VOCAB)) == "aab c"


def test_blank_only_and_empty_give_empty_text():
    dec = build_decoder({"type": "greedy"}, VOCAB)
    assert dec.decode(onehot_log_probs([0, 0, 0], VOCAB)) == ""
    assert dec.decode(np.zeros((0, VOCAB.size), np.float32)) == ""


def test_leading_trailing_and_double_spaces_collapse():
    sp, h, i = ids_of(" hi")
    assert build_decoder({"type": "greedy"}, VOCAB).decode(onehot_log_probs([sp, h, 0, sp, 0, sp, i, sp], VOCAB)) == "h i"


def test_batch_with_lengths_ignores_padding():
    a, b = ids_of("ab")
    x = torch.from_numpy(np.stack([onehot_log_probs([a, 0, b, b], VOCAB),
                                   onehot_log_probs([b, a, a, a], VOCAB)]))  # (2, 4, V)
    # second utterance has 2 valid frames: the trailing a's are padding
    assert greedy_ids(x, torch.tensor([4, 2])) == [[a, b], [b, a]]
    dec = build_decoder({"type": "greedy"}, VOCAB)
    assert dec.decode_batch(x, torch.tensor([4, 2])) == ["ab", "ba"]
    assert dec.decode_batch([onehot_log_probs([a, 0, b, b], VOCAB), onehot_log_probs([b, a], VOCAB)]) == ["ab", "ba"]


def test_mandarin_output_has_no_spaces():
    zh = Vocabulary(tuple("你好世界"), "zh")
    assert build_decoder({"type": "greedy"}, zh).decode(onehot_log_probs([1, 1, 0, 2, 3, 0, 4], zh)) == "你好世界"


def test_wrong_number_of_classes_names_both_sizes():
    dec = build_decoder({"type": "greedy"}, VOCAB)
    with pytest.raises(VocabularyMismatchError, match=r"30 classes but the vocabulary has 29"):
        dec.decode(np.zeros((3, 30), np.float32))


def test_config_round_trips_through_spec():
    cfg = DecoderConfig(type="beam", beam_width=7, alpha=0.8, hotwords=("cat",))
    assert DecoderConfig.from_spec(cfg.to_spec()) == cfg
    assert cfg.to_spec()["type"] == "beam"
    with pytest.raises(ValueError, match="unknown decoder 'viterbi'"):
        DecoderConfig(type="viterbi")
    with pytest.raises(ValueError, match="lm_path is set but type is 'greedy'"):
        DecoderConfig(type="greedy", lm_path="x.bin")
