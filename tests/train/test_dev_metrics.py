"""Training's dev CER/WER and ``ds2ray test`` count errors by one rule (:mod:`ds2ray.metrics`)."""

from __future__ import annotations

import math

import pytest

from ds2ray.data.manifest import ManifestEntry
from ds2ray.data.text import normalize_text
from ds2ray.evaluate import EvalReport, score
from ds2ray.train.greedy import dev_errors, dev_rates, dev_stats

CASES = {
    "en": [  # (transcript as in the manifest, greedy hypothesis): stray, double, leading and trailing spaces
        ("The cat sat.", "the  cat sat"),
        ("a dog ran home", " a dog  ran hom "),
        ("hello world", "helloworld"),
        ("it's fine", "its fine  "),
        ("one two three", ""),
    ],
    "zh": [  # Mandarin: spaces are not characters
        ("今天天气很好", "今天 天汽很好"),
        ("我们出去玩", "我 们 出 去"),
        ("你好", "你好 "),
    ],
}


def _train_path(pairs, language: str, ranks: int = 2) -> dict[str, float]:
    """What ``train.loop.evaluate`` reports: each rank counts its share, the counts are summed (all-reduce)."""
    refs = [normalize_text(text, language) for text, _ in pairs]  # = Vocabulary.normalize, as training stores it
    hyps = [hyp for _, hyp in pairs]
    per_rank = [dev_stats(*dev_errors(refs[r::ranks], hyps[r::ranks], language)) for r in range(ranks)]
    return dev_rates([sum(values) for values in zip(*per_rank)])


def _test_path(pairs, language: str) -> EvalReport:
    """What ``ds2ray test`` reports for the same hypotheses."""
    entries = [ManifestEntry(f"/u{i}.wav", 1.0, text) for i, (text, _) in enumerate(pairs)]
    return EvalReport(score(entries, [hyp for _, hyp in pairs], language), language)


@pytest.mark.parametrize("language", sorted(CASES))
def test_training_dev_metrics_equal_the_test_command(language):
    pairs = CASES[language]
    train, test = _train_path(pairs, language), _test_path(pairs, language)
    assert train == {"dev_cer": test.cer, "dev_wer": test.wer}
    assert 0 < train["dev_cer"] < 1 and not math.isnan(train["dev_wer"])


def test_stray_spaces_are_not_errors_and_mandarin_ignores_spaces():
    assert _train_path([("the cat", "  the   cat ")], "en") == {"dev_cer": 0.0, "dev_wer": 0.0}
    assert _train_path([("今天天气很好", "今天 天气 很好")], "zh")["dev_cer"] == 0.0
