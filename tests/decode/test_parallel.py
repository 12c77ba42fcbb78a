"""Parallel decoding over spawned processes and Ray actors matches decoding in-process."""

from __future__ import annotations

import pytest

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, build_decoder
from ds2ray.decode.parallel import ParallelDecoder, decode_parallel, make_chunks
from ds2ray.lm.load import LanguageModelNotFoundError
from ds2ray.testing.logprobs import spelled_log_probs

EN = Vocabulary.english()


def _utterances():
    amb = {"k": 0.6, "c": 0.38}
    specs = [
        ["t", "h", "e", " ", amb, "a", "t", " ", "s", "a", "t"],
        ["a", " ", amb, "a", "t"],
        ["t", "h", "e", " ", "d", "o", "g"],
        ["m", "y", " ", amb, "a", "t", " ", "a", "t", "e"],
        ["f", "i", "s", "h"],
    ]
    return [spelled_log_probs(EN, s) for s in specs]


def test_chunks_cover_every_item_once_longest_first():
    lps = _utterances()
    chunks = make_chunks(lps, num_workers=2, chunks_per_worker=2)
    idx = [i for c in chunks for i, _ in c]
    assert sorted(idx) == list(range(len(lps)))
    assert len(lps[idx[0]]) == max(len(x) for x in lps)


def test_process_pool_matches_serial_and_retunes(en_lm):
    lps = _utterances()
    cfg = DecoderConfig(type="beam", lm_path=str(en_lm), beam_width=32, alpha=0.8, beta=1.0)
    serial = build_decoder(cfg, EN).decode_batch(lps)
    assert serial[0] == "the cat sat" and serial[3] == "my cat ate"
    with ParallelDecoder(cfg, EN, num_workers=2, backend="process") as pd:
        assert pd.backend_name == "process"
        assert pd.decode(lps) == serial
        assert pd.hypotheses(lps) == build_decoder(cfg, EN).hypotheses(lps)  # texts with word frames
        pd.reset_params(alpha=0.0, beta=0.0)  # same warm workers, LM off
        off = pd.decode(lps)
    assert off[0] == "the kat sat" and off[3] == "my kat ate"


def test_worker_errors_reach_the_caller(tmp_path):
    cfg = DecoderConfig(type="beam", lm_path=str(tmp_path / "missing.bin"))
    with pytest.raises(LanguageModelNotFoundError, match="missing.bin"):
        decode_parallel(_utterances(), cfg, EN, num_workers=2, backend="process")


def test_greedy_stays_in_process():
    with ParallelDecoder(DecoderConfig(type="greedy"), EN, num_workers=4, backend="process") as pd:
        assert pd.backend_name == "serial"
        assert pd.decode(_utterances())[2] == "the dog"
        assert [w.word for w in pd.hypotheses(_utterances())[2].words] == ["the", "dog"]


def test_ray_actors_match_serial(en_lm, ray_session):
    lps = _utterances()
    cfg = DecoderConfig(type="beam", lm_path=str(en_lm), beam_width=32, alpha=0.8, beta=1.0)
    serial = build_decoder(cfg, EN).decode_batch(lps)
    assert decode_parallel(lps, cfg, EN, num_workers=2, backend="auto") == serial
