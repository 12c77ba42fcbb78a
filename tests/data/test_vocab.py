import pytest

from ds2ray.data.vocab import OutOfVocabularyError, Vocabulary, build_vocabulary


def test_encode_decode_round_trip():
    v = Vocabulary.english()
    assert v.size == 29 and v.labels[0] == ""
    ids = v.encode("Don't stop")
    assert 0 not in ids and v.decode(ids) == "don't stop"


def test_oov_is_reported_not_dropped():
    v = Vocabulary.english()
    with pytest.raises(OutOfVocabularyError) as err:
        v.encode("caf\u00e9 42")
    assert set(err.value.missing) == {"\u00e9", "4", "2"}
    with pytest.raises(ValueError, match="empty"):
        v.encode("?!")


def test_build_with_threshold_reports_dropped(tmp_path):
    report = build_vocabulary(["abc abc", "abd", "zz\u00e9"], language="en", count_threshold=1)
    assert set(report.vocabulary.chars) == {" ", "a", "b", "c", "z"}
    assert report.dropped == {"d": 1, "\u00e9": 1}
    assert "'d'×1" in report.summary()
    report.vocabulary.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json") == report.vocabulary


def test_mandarin_vocab_and_seed_text_format(tmp_path):
    report = build_vocabulary(["你好 世界", "你们好"], language="zh")
    assert report.vocabulary.chars[0] == "你" and " " not in report.vocabulary.chars
    assert report.vocabulary.decode(report.vocabulary.encode("你好")) == "你好"
    (tmp_path / "vocab.txt").write_text("a\nb\n<space>\n")
    v = Vocabulary.load(tmp_path / "vocab.txt")
    assert v.chars == ("a", "b", " ")


def test_diff_names_characters():
    a, b = Vocabulary(tuple("abc")), Vocabulary(tuple("abd"))
    assert "'c'" in a.diff(b) and "'d'" in a.diff(b)
    assert a.diff(Vocabulary(tuple("abc"))) == ""
