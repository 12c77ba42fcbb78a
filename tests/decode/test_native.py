"""The compiled beam search gives the Python search's texts and scores, LM and hotwords included,
and pyctcdecode's where pyctcdecode applies (no hotwords)."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary
from ds2ray.decode import DecoderConfig, build_decoder, native
from ds2ray.decode.beam import _normalise
from ds2ray.testing.logprobs import random_log_probs

EN = Vocabulary.english()
ZH = Vocabulary(tuple("今天气很好我们出去玩"), "zh")
HOT = {"en": (("cat", 4.0), ("the fish", 6.0), ("dog sat on", 3.0), ("bowl", 2.0)),
       "zh": (("天气", 5.0), ("我们", 3.0))}


@pytest.fixture(scope="module")
def compiled():
    module = native.load()
    assert module is not None, f"the compiled beam search did not build ({native.failure()}); run `make setup`"
    return module


def decoders(monkeypatch, cfg: DecoderConfig, vocab: Vocabulary):
    """(Python search, compiled search) for the same config."""
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    py = build_decoder(cfg, vocab)
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    nat = build_decoder(cfg, vocab)
    assert (py.engine, nat.engine) == ("python", "native")
    return py, nat


@pytest.mark.parametrize("hot", [False, True])
@pytest.mark.parametrize("use_lm", [False, True])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_same_beams_and_scores_as_the_python_search(request, monkeypatch, compiled, lang, use_lm, hot):
    vocab = EN if lang == "en" else ZH
    lm = request.getfixturevalue(f"{lang}_lm") if use_lm else None
    rng = np.random.default_rng(11 + 2 * use_lm + hot)
    for width, num_beams in ((8, 1), (24, 4)):
        cfg = DecoderConfig(type="beam", beam_width=width, alpha=0.7, beta=0.5, lm_path=str(lm) if lm else None,
                            hotwords=HOT[lang] if hot else ())
        py, nat = decoders(monkeypatch, cfg, vocab)
        for spread in (0.05, 0.6):
            for _ in range(3):
                lp = random_log_probs(rng, vocab, int(rng.integers(20, 60)), spread)
                expected, got = py.decode_beams(lp, num_beams), nat.decode_beams(lp, num_beams)
                assert [t for t, _ in got] == [t for t, _ in expected]
                np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-12)


def test_same_as_pyctcdecode(en_lm, compiled):
    from pyctcdecode.language_model import HotwordScorer

    dec = build_decoder(DecoderConfig(type="beam", beam_width=16, alpha=0.7, beta=0.5, lm_path=str(en_lm)), EN)
    assert dec.engine == "native"
    rng = np.random.default_rng(5)
    for _ in range(6):
        lp = _normalise(random_log_probs(rng, EN, 40, 0.5).astype(np.float32))
        dec._apply_params()
        expected = dec._decoder._decode_logits(lp, beam_width=16, beam_prune_logp=-10.0, token_min_logp=-5.0,
                                               prune_history=False, hotword_scorer=HotwordScorer.build_scorer(None))
        search = dec.begin(num_beams=16)._search
        search.advance(lp)
        got = search.finish(16)
        assert [t for t, _, _ in got] == [b[0] for b in expected]
        np.testing.assert_allclose([s for _, _, s in got], [b[-1] for b in expected], rtol=1e-12)


def test_caches_stay_warm_across_utterances_and_retuning(en_lm, compiled):
    rng = np.random.default_rng(3)
    dec = build_decoder(DecoderConfig(type="beam", beam_width=16, lm_path=str(en_lm)), EN)
    lps = [random_log_probs(rng, EN, 40, 0.4) for _ in range(4)]
    first = [dec.decode(lp) for lp in lps]
    from ds2ray.decode.beam import _CORES

    (_, shared), = [v for v in _CORES.values() if v[0] is dec._decoder._language_model]
    asked = shared.stats()["lm_cache"]
    assert asked > 0
    dec.reset_params(alpha=1.5, beta=0.2)
    dec.reset_params(alpha=0.5, beta=1.5)
    assert [dec.decode(lp) for lp in lps] == first
    assert shared.stats()["lm_cache"] == asked  # the same utterances ask KenLM nothing new


def test_without_a_compiler_the_python_search_takes_over(monkeypatch, tmp_path, caplog, en_lm):
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setattr(native, "_failed", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing built there
    monkeypatch.setenv("PATH", str(tmp_path))  # and no compiler to build it
    monkeypatch.delenv("CXX", raising=False)
    assert native.load() is None
    assert "no C++ compiler" in native.failure() and "slower Python search" in caplog.text
    dec = build_decoder(DecoderConfig(type="beam", beam_width=16, lm_path=str(en_lm)), EN)
    assert dec.engine == "python"
    lp = random_log_probs(np.random.default_rng(0), EN, 30, 0.3)
    monkeypatch.undo()
    assert build_decoder(dec.config, EN).decode_beams(lp) == dec.decode_beams(lp)


def test_forgotten_cores_are_rebuilt(en_lm, compiled):
    from ds2ray.decode.beam import forget_native_cores

    dec = build_decoder(DecoderConfig(type="beam", beam_width=16, lm_path=str(en_lm), hotwords=("cat",)), EN)
    lp = random_log_probs(np.random.default_rng(8), EN, 30, 0.4)
    before = dec.decode_beams(lp)
    forget_native_cores()  # a cold start: the decoder's hotword tables follow the new core
    assert dec.decode_beams(lp) == before


def test_the_search_lets_other_python_threads_run(en_lm, compiled):
    """advance() releases the GIL: a Python loop on another thread keeps going while it runs (with the
    GIL held, the loop would stall for the whole search)."""
    import threading
    import time

    dec = build_decoder(DecoderConfig(type="beam", beam_width=32, lm_path=str(en_lm)), EN)
    rng = np.random.default_rng(21)
    lp = _normalise(random_log_probs(rng, EN, 4000, 0.6).astype(np.float32))
    dec.begin().advance(lp).finish()  # warm LM caches: no calls back into Python (which would switch threads)
    stream = dec.begin()
    searching = threading.Event()
    span: list[float] = []

    def search() -> None:
        searching.set()
        t0 = time.perf_counter()
        n = 0  # long enough to see the loop stall or not, however fast the machine: >= 6 passes and 0.5 s
        while n < 6 or (time.perf_counter() - t0 < 0.5 and n < 200):
            stream._search.advance(lp)
            n += 1
        span.extend((t0, time.perf_counter()))

    worker = threading.Thread(target=search)
    worker.start()
    searching.wait()
    ticks = []
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    start, end = span
    inside = [t for t in ticks if start <= t <= end]
    gaps = np.diff([start, *inside, end])
    assert end - start > 0.2, "the search was too short to tell"
    assert gaps.max() < 0.5 * (end - start), f"the loop stalled for {gaps.max():.3f} s of {end - start:.3f} s"


def test_threads_sharing_one_core_give_the_serial_results(en_lm, compiled):
    """Searches on one core (same labels and LM) from several threads take turns on the core's lock:
    the same beams and scores as one after another, LM cache misses (calls back into Python) included."""
    from concurrent.futures import ThreadPoolExecutor

    from ds2ray.decode.beam import forget_native_cores

    cfg = DecoderConfig(type="beam", beam_width=16, alpha=0.7, beta=0.5, lm_path=str(en_lm), hotwords=HOT["en"])
    rng = np.random.default_rng(17)
    lps = [random_log_probs(rng, EN, int(rng.integers(200, 400)), 0.5) for _ in range(12)]
    forget_native_cores()
    serial = [build_decoder(cfg, EN).decode_beams(lp, 3) for lp in lps]
    forget_native_cores()  # cold caches: the threads fill them together
    decoders = [build_decoder(cfg, EN) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda i: decoders[i % 4].decode_beams(lps[i], 3), range(len(lps))))
    assert [[t for t, _ in b] for b in together] == [[t for t, _ in b] for b in serial]
    np.testing.assert_allclose([s for b in together for _, s in b], [s for b in serial for _, s in b], rtol=1e-12)
