"""Word frames from the CTC alignment (greedy path, Viterbi forced alignment) and frames -> seconds,
on hand-built log-probs whose answers are worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, build_decoder
from ds2ray.decode.timestamps import (
    Hypothesis,
    Segment,
    Word,
    WordFrames,
    align_text,
    ctc_align,
    path_spans,
)
from ds2ray.model.config import get_preset
from ds2ray.model.lengths import output_frame_seconds
from ds2ray.testing.logprobs import onehot_log_probs, spelled_log_probs, synthetic_log_probs

EN = Vocabulary.english()  # id 0 blank, 1 ' ', 2 "'", 3 'a', 4 'b', ...


def ids_of(text: str, vocab: Vocabulary = EN) -> list[int]:
    return [vocab.labels.index(c) for c in text]


def test_greedy_words_span_first_to_last_frame_of_their_letters():
    o, p, sp, n = ids_of("op n")
    # frame:   0  1  2  3  4  5   6  7  8  9 10
    frames = [0, o, o, 0, p, 0, sp, 0, n, n, 0]
    hyp = build_decoder({"type": "greedy"}, EN).hypotheses([onehot_log_probs(frames, EN)])[0]
    assert hyp == Hypothesis("op n", (WordFrames("op", 1, 5), WordFrames("n", 8, 10)), 11)
    seg = hyp.timed(0.02)
    assert seg.words == (Word("op", 0.02, pytest.approx(0.10)), Word("n", 0.16, pytest.approx(0.20)))
    assert seg.start == 0.0 and seg.end == pytest.approx(0.22)


def test_greedy_hypotheses_texts_equal_decode_batch():
    rng = np.random.default_rng(3)
    lps = [synthetic_log_probs(t, EN, rng, "uncertain", confusion=0.2)
           for t in ("open the gate", "a cat sat", "hello world again")]
    dec = build_decoder({"type": "greedy"}, EN)
    hyps = dec.hypotheses(lps)
    assert [h.text for h in hyps] == dec.decode_batch(lps)
    for h, lp in zip(hyps, lps):
        assert " ".join(w.word for w in h.words) == h.text
        assert h.frames == len(lp)
        assert all(0 <= w.start < w.end <= len(lp) for w in h.words)
        assert all(a.end <= b.start for a, b in zip(h.words, h.words[1:]))


def test_greedy_path_is_the_forced_alignment_of_its_own_text():
    """The best path overall is the best path spelling its text: both routes give the same frames."""
    rng = np.random.default_rng(0)
    dec = build_decoder({"type": "greedy"}, EN)
    for text in ("the quick brown fox", "jumps over the lazy dog", "a b c"):
        lp = synthetic_log_probs(text, EN, rng, "peaky")
        hyp = dec.hypotheses([lp])[0]
        assert align_text(lp, hyp.text, EN) == hyp


def test_forced_alignment_finds_a_label_greedy_misses():
    a, b = ids_of("ab")
    rows = [{a: 0.9, 0: 0.1}, {0: 0.6, b: 0.4}, {0: 0.99, b: 0.01}, {0: 0.99, b: 0.01}]
    lp = np.full((4, EN.size), 1e-6)
    for t, row in enumerate(rows):
        for k, p in row.items():
            lp[t, k] = p
    lp = np.log(lp / lp.sum(1, keepdims=True))
    assert build_decoder({"type": "greedy"}, EN).decode(lp) == "a"
    starts, ends = ctc_align(lp, [a, b])
    assert starts.tolist() == [0, 1] and ends.tolist() == [1, 2]  # b where it is likeliest, frame 1


def test_forced_alignment_is_the_best_path_by_brute_force():
    """Every path of 6 frames over {blank, a, b} that spells "aba": the best one's label spans."""
    a, b = ids_of("ab")
    classes, target = [0, a, b], [a, b, a]
    rng = np.random.default_rng(7)
    for _ in range(5):
        lp = np.log(rng.dirichlet(np.ones(EN.size), size=6))
        best, best_path = -np.inf, None
        for path in itertools.product(classes, repeat=6):
            labels, _, _ = path_spans(np.array(path))
            if labels.tolist() == target:
                score = sum(lp[t, k] for t, k in enumerate(path))
                if score > best:
                    best, best_path = score, np.array(path)
        _, want_starts, want_ends = path_spans(best_path)
        starts, ends = ctc_align(lp, target)
        assert (starts.tolist(), ends.tolist()) == (want_starts.tolist(), want_ends.tolist())


def test_forced_alignment_needs_a_blank_between_repeats():
    a = EN.labels.index("a")
    with pytest.raises(ValueError, match="no CTC path of 2 frames"):
        ctc_align(onehot_log_probs([a, a], EN), [a, a])
    starts, ends = ctc_align(onehot_log_probs([a, 0, a], EN), [a, a])
    assert starts.tolist() == [0, 2] and ends.tolist() == [1, 3]
    assert ctc_align(np.zeros((0, EN.size)), [])[0].size == 0


def test_beam_words_come_from_the_spelled_frames(en_lm):
    lp = spelled_log_probs(EN, list("cat sat"))  # char at even frames, blank after each
    dec = build_decoder(DecoderConfig(type="beam", lm_path=str(en_lm), beam_width=16), EN)
    hyp = dec.hypotheses([lp])[0]
    assert hyp == Hypothesis("cat sat", (WordFrames("cat", 0, 5), WordFrames("sat", 8, 13)), 14)


def test_beam_takes_the_greedy_path_when_the_texts_agree(en_lm):
    """Stray spaces on the best path do not move the words (they are not forced out of it)."""
    c, a, t, sp = ids_of("cat ")
    frames = [sp, 0, c, a, a, t, 0, sp, sp, 0, c, 0, a, t, sp, 0]
    lp = onehot_log_probs(frames, EN)
    want = (WordFrames("cat", 2, 6), WordFrames("cat", 10, 14))
    assert build_decoder({"type": "greedy"}, EN).hypotheses([lp])[0].words == want
    beam = build_decoder(DecoderConfig(type="beam", lm_path=str(en_lm), beam_width=16), EN)
    assert beam.hypotheses([lp]) == [Hypothesis("cat cat", want, 16)]


def test_beam_hypotheses_texts_equal_decode(en_lm):
    """The LM changes texts here; their words still come in order, inside the utterance."""
    rng = np.random.default_rng(1)
    lps = [synthetic_log_probs(t, EN, rng, "confusable", confusion=0.4)
           for t in ("the cat sat on the mat", "a dog ate my fish", "the bowl is on the mat")]
    dec = build_decoder(DecoderConfig(type="beam", lm_path=str(en_lm), alpha=1.0, beta=1.0, beam_width=16), EN)
    hyps = dec.hypotheses(lps)
    assert [h.text for h in hyps] == [dec.decode(lp) for lp in lps]
    greedy = build_decoder({"type": "greedy"}, EN).decode_batch(lps)
    assert any(h.text != g for h, g in zip(hyps, greedy))  # some words come from the forced alignment
    for h, lp in zip(hyps, lps):
        assert " ".join(w.word for w in h.words) == h.text
        assert all(0 <= w.start < w.end <= len(lp) for w in h.words)
        assert all(a.end <= b.start for a, b in zip(h.words, h.words[1:]))
    assert dec.hypotheses([np.zeros((0, EN.size), np.float32)]) == [Hypothesis("", (), 0)]


def test_mandarin_words_are_characters():
    zh = Vocabulary(tuple("今天好"), "zh")
    jin, tian, hao = ids_of("今天好", zh)
    hyp = build_decoder({"type": "greedy"}, zh).hypotheses([onehot_log_probs([jin, 0, tian, tian, 0, hao], zh)])[0]
    assert hyp.text == "今天好"
    assert hyp.words == (WordFrames("今", 0, 1), WordFrames("天", 2, 4), WordFrames("好", 5, 6))
    assert align_text(onehot_log_probs([jin, 0, tian, tian, 0, hao], zh), "今天好", zh) == hyp


def test_output_frame_seconds_follow_the_feature_and_conv_strides():
    preset = get_preset("demo")  # 10 ms features, conv time strides 2 and 1
    assert output_frame_seconds(preset.model, preset.features) == pytest.approx(0.02)
    seed = get_preset("seed")  # time strides 3 and 1
    assert output_frame_seconds(seed.model, seed.features) == pytest.approx(0.03)
    slower = preset.features.replace(stride_ms=20.0, window_ms=25.0)
    assert output_frame_seconds(preset.model, slower) == pytest.approx(0.04)


def test_segment_offset_and_json():
    hyp = Hypothesis("hi you", (WordFrames("hi", 3, 7), WordFrames("you", 10, 16)), 20)
    seg = hyp.timed(0.02, offset=60.0)
    assert seg.to_dict() == {"start": 60.0, "end": 60.4, "text": "hi you",
                             "words": [{"word": "hi", "start": 60.06, "end": 60.14},
                                       {"word": "you", "start": 60.2, "end": 60.32}]}
    assert Segment(0.0, 1.0, "").to_dict()["words"] == []
    with pytest.raises(ValueError, match="frame_seconds"):
        hyp.timed(0.0)
