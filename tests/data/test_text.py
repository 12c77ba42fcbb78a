"""Transcript normalisation (English and Mandarin) and language detection."""

import pytest

from ds2ray.data.text import detect_language, normalize_text


@pytest.mark.parametrize("raw, expected", [
    ("Hello, World!", "hello world"),
    ("  It\u2019s   the dog's  BONE. ", "it's the dog's bone"),
    ("'Quoted,' she said \u2014 well-known", "quoted she said well known"),
    ("Caf\u00e9 42", "caf\u00e9 42"),  # kept, so the vocabulary reports them as OOV
])
def test_english_normalisation(raw, expected):
    assert normalize_text(raw, "en") == expected


def test_mandarin_normalisation():
    assert normalize_text("你好，世界！ 我们 ABC", "zh") == "你好世界我们abc"
    assert detect_language(["你好世界", "我们"]) == "zh"
    assert detect_language(["hello world"]) == "en"
