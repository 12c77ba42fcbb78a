"""Corpus preprocessing: the seed's English and Mandarin rules, numbers as words, top-N words."""

from __future__ import annotations

import json

import pytest

from ds2ray.lm.corpus import (
    num2words,
    ordinal_words,
    prepare_corpus,
    preprocess_english,
    preprocess_mandarin,
)


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (15, "fifteen"), (20, "twenty"), (42, "forty two"), (100, "one hundred"),
    (105, "one hundred five"), (1000, "one thousand"), (1999, "one thousand nine hundred ninety nine"),
    (2024, "two thousand twenty four"), (1_000_000, "one million"),
    (3_000_012, "three million twelve"), (-5, "minus five"),
])
def test_num2words(n, words):
    assert num2words(n) == words


@pytest.mark.parametrize("n, words", [(1, "first"), (2, "second"), (3, "third"), (12, "twelfth"),
                                      (20, "twentieth"), (21, "twenty first"), (100, "one hundredth")])
def test_ordinals(n, words):
    assert ordinal_words(n) == words


@pytest.mark.parametrize("raw, clean", [
    ("Hello, World!", "hello world"),
    ("It's 1,000 feet", "it's one thousand feet"),
    ("  In 1999   the CAFÉ opened  ", "in one thousand nine hundred ninety nine the cafe opened"),
    ("Pi is 3.14", "pi is three point one four"),
    ("50% off on the 2nd", "fifty percent off on the second"),
    ("agent 007", "agent zero zero seven"),
    ("C++ & Java; e-mail", "c java e mail"),
    ("«quoted» — ok", "quoted ok"),
    ("...", ""),
])
def test_preprocess_english(raw, clean):
    assert preprocess_english(raw) == clean
    assert set(preprocess_english(raw)) <= set("abcdefghijklmnopqrstuvwxyz' ")


def test_preprocess_mandarin_separates_characters_and_drops_punctuation():
    assert preprocess_mandarin("你好，世界！ 今天。") == "你 好 世 界 今 天"
    assert preprocess_mandarin("“北京”欢迎你") == "北 京 欢 迎 你"


def test_top_n_maps_rare_words_to_the_unknown_token(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat\nthe cat ran\nthe dog sat\n\n!!!\n")
    out = tmp_path / "clean.txt"
    stats = prepare_corpus([corpus], out, language="en", top_n=3)
    assert out.read_text().splitlines() == ["the cat sat", "the cat UNKNOWNWORD", "the UNKNOWNWORD sat"]
    assert (stats.lines, stats.tokens, stats.types, stats.kept_types, stats.unk_tokens) == (3, 9, 5, 3, 2)


def test_manifest_corpus_uses_text_fields(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps({"audio_filepath": f"{i}.wav", "duration": 1.0, "text": t})
                                  for i, t in enumerate(["你好。", "世界"])) + "\n", encoding="utf-8")
    out = tmp_path / "clean.txt"
    prepare_corpus([manifest], out, language="zh")
    assert out.read_text(encoding="utf-8").splitlines() == ["你 好", "世 界"]


def test_bad_corpus_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus not found"):
        prepare_corpus([tmp_path / "nope.txt"], tmp_path / "o.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n...\n")
    with pytest.raises(ValueError, match="no usable text"):
        prepare_corpus([empty], tmp_path / "o.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        prepare_corpus([bad], tmp_path / "o.txt")
