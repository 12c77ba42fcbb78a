"""WER/CER on pairs whose edit distances are worked out by hand."""

from __future__ import annotations

import pytest

from ds2ray.metrics import ErrorCounts, cer, char_errors, default_error_rate_type, utterance_errors, wer, word_errors


def test_word_counts_by_hand():
    # ref: the cat sat on the mat ; hyp: the bat sat the mat down
    # the=, cat->bat (S), sat=, on deleted (D), the=, mat=, down inserted (I)
    c = word_errors("the cat sat on the mat", "the bat sat the mat down")
    assert (c.substitutions, c.deletions, c.insertions, c.hits) == (1, 1, 1, 4)
    assert c.ref_len == 6 and c.errors == 3 and c.rate == pytest.approx(0.5)


def test_char_counts_include_single_spaces():
    # "ab cd" vs "ab  xd": extra spaces collapse; c->x is the only error out of 5 characters
    c = char_errors("ab cd", " ab  xd ")
    assert (c.substitutions, c.deletions, c.insertions, c.hits) == (1, 0, 0, 4)
    assert c.rate == pytest.approx(0.2)
    # a missing space is one deletion
    assert char_errors("ab cd", "abcd").deletions == 1


def test_corpus_rate_is_total_errors_over_total_words():
    refs = ["a b c d", "e"]
    hyps = ["a b c d", "f"]
    total = wer(refs, hyps)
    assert total.errors == 1 and total.ref_len == 5
    assert total.rate == pytest.approx(0.2)  # not the mean of 0.0 and 1.0
    assert cer(refs, hyps).rate == pytest.approx(1 / 8)  # "a b c d" is 7 characters, "e" 1


def test_empty_sides():
    assert word_errors("", "") == ErrorCounts()
    assert word_errors("a b", "") == ErrorCounts(deletions=2)
    assert word_errors("", "x y") == ErrorCounts(insertions=2)
    assert word_errors("", "x y").rate == 2.0
    assert char_errors("ab", "   ").deletions == 2


def test_mandarin_cer_ignores_spaces():
    # 今天天气很好 vs 今天 天汽很好: one substitution (气->汽) in 6 characters, the space is not an error
    w, c = utterance_errors("今天天气很好", "今天 天汽很好", language="zh")
    assert (c.substitutions, c.deletions, c.insertions, c.hits) == (1, 0, 0, 5)
    assert c.rate == pytest.approx(1 / 6)
    assert cer(["我们出去玩"], ["我们去玩了"], language="zh").errors == 2  # 出 deleted, 了 inserted
    # the same pair scored as English counts the space
    assert char_errors("今天天气很好", "今天 天汽很好").errors == 2


def test_counts_add_and_defaults():
    a, b = ErrorCounts(1, 2, 3, 4), ErrorCounts(1, 1, 1, 1)
    assert a + b == ErrorCounts(2, 3, 4, 5)
    assert (a + b).to_dict()["ref_len"] == 10
    assert default_error_rate_type("en") == "wer" and default_error_rate_type("zh") == "cer"
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        wer(["a", "b"], ["a"])
