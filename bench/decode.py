"""Decoding speed: times real time per core for greedy and beam search, with and without a 3-gram LM,
with 100 hotwords, and the speedup of 2 parallel beam-search workers over 1.

Beam search runs in the compiled core (ds2ray/decode/native.py). The row ``beam100+lm, python
(baseline)`` is the same setting on the Python search the decoder used before it (the fallback
when the core cannot be built, selected with DS2RAY_NATIVE_DECODE=0), measured in the same run; the
compiled rows must give the very same texts (``same_texts_as_baseline``).

Log-probs come from a trained checkpoint when ``--checkpoint`` and ``--manifest`` are given (computed
once, then every decoder runs on them). Otherwise they are SYNTHESISED from real English transcripts
(``ds2ray/resources/sentences_en.txt``): a peaky CTC-like matrix at 50 frames/s (DS2's 20 ms output
stride) where each character gets one frame and 1-3 blank frames follow it, the best class takes
50-99 % of the mass, and 5 % of characters are confused with another letter. The output says which.

The 3-gram LM is built with lmplz from sentences the test transcripts do not use (``--lm`` to use
your own). Single-worker figures use process CPU time (robust on a shared machine); the parallel
speedup compares wall times of warm workers (pool start-up and LM loading excluded).

Targets: beam 100 + 3-gram >= 500x real time per core, greedy >= 2000x, 100 hotwords <= 1.2x the time
of none, 2-worker speedup >= 1.7x.

    python bench/decode.py [--num-utterances 200] [--checkpoint C --manifest M] [--lm LM] [--parallel-repeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ds2ray.data.english_text import builtin_sentences
from ds2ray.testing.lm import build_tiny_lm
from ds2ray.testing.logprobs import synthetic_log_probs

FRAMES_PER_SECOND = 50.0  # DS2: 10 ms feature hop, time stride 2
TARGETS = {"greedy": 2000.0, "beam100+lm": 500.0}
HOTWORD_COST_TARGET = 1.2  # time with 100 hotwords / time without
SPEEDUP_TARGET = 1.7


def by_name_wer(rows: list[dict], name: str) -> float:
    return next(r["wer"] for r in rows if r["setting"] == name)


def frame_stats(lps: list[np.ndarray], token_min_logp: float = -5.0) -> dict[str, float]:
    """How peaky: mean classes per frame at or above ``token_min_logp``; share of blank-only frames."""
    allf = np.concatenate(lps)
    above = (allf >= token_min_logp).sum(axis=1)
    blank_only = (allf.argmax(axis=1) == 0) & (above == 1)
    return {"classes_above_min_logp_per_frame": round(float(above.mean()), 3),
            "blank_only_frames": round(float(blank_only.mean()), 3)}


def checkpoint_log_probs(checkpoint: str, manifest: str, n: int):
    from ds2ray.data.manifest import read_manifest
    from ds2ray.evaluate import compute_log_probs
    from ds2ray.model.checkpoint import load_checkpoint

    entries = read_manifest(manifest).entries[:n]
    vocab = load_checkpoint(checkpoint).vocab
    lps = compute_log_probs(checkpoint, entries, num_workers=0, progress=False)
    return lps, vocab, [e.text for e in entries], sum(e.duration for e in entries)


def bench_hotwords(sentences: list[str], n: int, rng: np.random.Generator) -> tuple[tuple[str, float], ...]:
    """``n`` hotwords from ``sentences`` (held out from the test transcripts): 80 % single words of 5+
    letters, 20 % two-word phrases, weight 10."""
    from ds2ray.lm.corpus import preprocess_english

    words = sorted({w for s in sentences for w in preprocess_english(s).split() if len(w) >= 5})
    pairs = sorted({" ".join(p) for s in sentences for p in zip(preprocess_english(s).split(),
                                                                preprocess_english(s).split()[1:])})
    n_pairs = n // 5
    chosen = list(rng.choice(words, n - n_pairs, replace=False)) + list(rng.choice(pairs, n_pairs, replace=False))
    return tuple((str(p), 10.0) for p in chosen)


def time_decoder(config, vocab, lps, engine: str = "native") -> tuple[list[str], float, float, str]:
    """Decode in this process: (texts, cpu seconds, wall seconds, engine); LM loading excluded.
    ``engine``: ``native`` (the compiled core) or ``python`` (the Python search, the baseline).
    Caches are warmed on the first utterance only."""
    from ds2ray.decode import build_decoder, native

    old = os.environ.get(native.ENV_SWITCH)
    os.environ[native.ENV_SWITCH] = "0" if engine == "python" else "1"
    try:
        dec = build_decoder(config, vocab)
    finally:
        if old is None:
            os.environ.pop(native.ENV_SWITCH)
        else:
            os.environ[native.ENV_SWITCH] = old
    used = getattr(dec, "engine", "greedy")
    dec.decode(lps[0])  # warm caches
    c0, w0 = time.process_time(), time.perf_counter()
    texts = dec.decode_batch(lps)
    return texts, time.process_time() - c0, time.perf_counter() - w0, used


def time_hotwords(config, hotwords, vocab, lps, rounds: int = 3) -> tuple[float, float, list[str]]:
    """CPU seconds per pass without and with ``hotwords``, in the steady state: both decoders warmed
    on every utterance, then ``rounds`` passes each, alternating (load drifts hit both alike).
    Also the texts with hotwords."""
    from ds2ray.decode import build_decoder

    plain, boosted = build_decoder(config, vocab), build_decoder(config.replace(hotwords=hotwords), vocab)
    texts = [boosted.decode(lp) for lp in lps]
    for lp in lps:
        plain.decode(lp)
    spent = [0.0, 0.0]
    for _ in range(rounds):
        for i, dec in enumerate((plain, boosted)):
            c0 = time.process_time()
            for lp in lps:
                dec.decode(lp)
            spent[i] += time.process_time() - c0
    return spent[0] / rounds, spent[1] / rounds, texts


def time_parallel(config, vocab, lps, workers: int) -> tuple[float, float]:
    """(wall seconds, summed worker CPU seconds) to decode ``lps`` over ``workers`` warm processes.
    One worker runs in this process: its compiled core is made afresh, as in a new worker process
    (the earlier rows warmed this process's caches)."""
    from ds2ray.decode.beam import forget_native_cores
    from ds2ray.decode.parallel import ParallelDecoder

    forget_native_cores()

    with ParallelDecoder(config, vocab, num_workers=workers, backend="process" if workers > 1 else "serial") as pd:
        pd.decode(lps[: workers * 2])  # start the workers, load the LM in each
        w0 = time.perf_counter()
        pd.decode(lps)
        return time.perf_counter() - w0, pd.worker_cpu_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-utterances", type=int, default=200,
                   help="utterances to decode per setting (fewer: the parallel timing is too short to trust)")
    p.add_argument("--checkpoint", default=None, help="trained checkpoint: use its log-probs (with --manifest)")
    p.add_argument("--manifest", default=None, help="manifest for --checkpoint")
    p.add_argument("--lm", default=None, help="3-gram LM to use (default: build one from held-out sentences)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic log-probs")
    p.add_argument("--parallel-repeat", type=int, default=10,
                   help="the parallel timing decodes the set this many times (the compiled search is fast: a "
                        "single pass is too short to time; default 10)")
    p.add_argument("--out", default="bench/results/decode.json", help="JSON results")
    args = p.parse_args()

    import torch

    from ds2ray.data.vocab import Vocabulary
    from ds2ray.decode import DecoderConfig
    from ds2ray.lm.corpus import preprocess_english
    from ds2ray.metrics import wer

    torch.set_num_threads(1)
    sentences = list(builtin_sentences())
    n = args.num_utterances
    rng = np.random.default_rng(args.seed)
    if args.checkpoint:
        if not args.manifest:
            p.error("--checkpoint needs --manifest")
        lps, vocab, refs, audio_s = checkpoint_log_probs(args.checkpoint, args.manifest, n)
        source = f"checkpoint {args.checkpoint} on {args.manifest}"
        lm_sentences = sentences
    else:
        vocab = Vocabulary.english()
        refs = [preprocess_english(s) for s in sentences[:n]]
        lps = [synthetic_log_probs(s, vocab, rng, "peaky") for s in refs]
        audio_s = sum(len(x) for x in lps) / FRAMES_PER_SECOND
        source = ("SYNTHETIC 'peaky' log-probs from real transcripts (no trained model given): "
                  f"{FRAMES_PER_SECOND:.0f} frames/s, 5% character confusions")
        lm_sentences = sentences[n:]  # the LM never saw the test sentences
    tmp = Path(tempfile.mkdtemp(prefix="bench_decode_"))
    lm = args.lm or str(build_tiny_lm(tmp, lm_sentences, name="bench3", memory="256M").model_path)
    stats = frame_stats(lps)
    print(f"log-probs: {source}\n{len(lps)} utterances, {audio_s:.0f} s of audio, {sum(len(x) for x in lps)} frames, "
          f"{stats['classes_above_min_logp_per_frame']} classes >= -5 per frame, "
          f"{stats['blank_only_frames']:.0%} blank-only frames; LM: {lm}")

    lm_kw = {"lm_path": lm, "alpha": 0.5, "beta": 1.0}
    beam_lm = DecoderConfig(type="beam", beam_width=100, **lm_kw)
    hotwords = bench_hotwords(lm_sentences, 100, np.random.default_rng(args.seed + 1))
    # (name, config, log-probs, audio seconds, engine, baseline row name)
    settings = [
        ("greedy", DecoderConfig(type="greedy"), lps, audio_s, "native", None),
        ("beam100+lm, python (baseline)", beam_lm, lps, audio_s, "python", None),
        ("beam100", DecoderConfig(type="beam", beam_width=100), lps, audio_s, "native", None),
        ("beam100+lm", beam_lm, lps, audio_s, "native", "beam100+lm, python (baseline)"),
        ("beam500", DecoderConfig(type="beam", beam_width=500), lps, audio_s, "native", None),
        ("beam500+lm", DecoderConfig(type="beam", beam_width=500, **lm_kw), lps, audio_s, "native", None),
    ]
    if not args.checkpoint:  # a stress case: a weak model whose frames split over 2-3 classes
        weak = [synthetic_log_probs(s, vocab, rng, "uncertain") for s in refs]
        weak_s = sum(len(x) for x in weak) / FRAMES_PER_SECOND
        settings += [("beam100+lm, uncertain, python (baseline)", beam_lm, weak, weak_s, "python", None),
                     ("beam100+lm, uncertain model", beam_lm, weak, weak_s, "native",
                      "beam100+lm, uncertain, python (baseline)")]
    rows = []
    texts_of: dict[str, list[str]] = {}
    for name, cfg, mats, seconds, engine, baseline in settings:
        texts, cpu, wall, used = time_decoder(cfg, vocab, mats, engine)
        texts_of[name] = texts
        row = {"setting": name, "engine": used, "decoder": cfg.to_spec(), "audio_s": round(seconds, 1),
               **frame_stats(mats), "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
               "x_real_time_per_core": round(seconds / max(cpu, 1e-9), 1), "wer": round(wer(refs, texts).rate, 4)}
        if baseline is not None:
            row["same_texts_as_baseline"] = texts == texts_of[baseline]
        rows.append(row)
    # the hotword cost, in the steady state (every cache warm): 100 hotwords against none
    cpu_none, cpu_hot, hot_texts = time_hotwords(beam_lm, hotwords, vocab, lps)
    for name, cfg, cpu, texts in (("beam100+lm, warm", beam_lm, cpu_none, None),
                                  ("beam100+lm+100 hotwords, warm", beam_lm.replace(hotwords=hotwords), cpu_hot,
                                   hot_texts)):
        rows.append({"setting": name, "engine": "native", "decoder": cfg.to_spec(), "audio_s": round(audio_s, 1),
                     **stats, "cpu_s": round(cpu, 3), "wall_s": None,
                     "x_real_time_per_core": round(audio_s / max(cpu, 1e-9), 1),
                     "wer": round(wer(refs, texts).rate, 4) if texts is not None else by_name_wer(rows, "beam100+lm")})
    hot_cost = cpu_hot / max(cpu_none, 1e-9)
    cfg = beam_lm
    many = lps * max(1, args.parallel_repeat)
    wall1, cpu1 = time_parallel(cfg, vocab, many, 1)
    wall2, cpu2 = time_parallel(cfg, vocab, many, 2)
    # speedup = wall1 / wall2 needs 2 idle cores; cpu1 / cpu2 (work done once either way, 1.0 = no
    # parallel overhead) is what bounds it: 2 free cores give a speedup of about 2 * cpu1 / cpu2.
    parallel = {"setting": "beam100+lm", "utterances": len(many), "wall_1_worker_s": round(wall1, 3), "wall_2_workers_s": round(wall2, 3),
                "speedup": round(wall1 / wall2, 2), "worker_cpu_1_s": round(cpu1, 3),
                "worker_cpu_2_s": round(cpu2, 3), "cpu_efficiency": round(cpu1 / max(cpu2, 1e-9), 2),
                "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}

    print(f"\n{'setting':<42}{'engine':>8}{'cpu s':>9}{'wall s':>9}{'x real time/core':>18}{'WER':>8}"
          f"{'target':>9}{'same texts':>12}")
    for r in rows:
        target = TARGETS.get(r["setting"])
        mark = "" if target is None else f"{'>=' if r['x_real_time_per_core'] >= target else '< '}{target:.0f}"
        same = {True: "yes", False: "NO"}.get(r.get("same_texts_as_baseline"), "")
        wall = "" if r["wall_s"] is None else f"{r['wall_s']:.2f}"
        print(f"{r['setting']:<42}{r['engine']:>8}{r['cpu_s']:>9.2f}{wall:>9}"
              f"{r['x_real_time_per_core']:>18.0f}{r['wer']:>8.3f}{mark:>9}{same:>12}")
    print(f"\n100 hotwords cost {hot_cost:.2f}x the time of none (target <= {HOTWORD_COST_TARGET})")
    print(f"\nparallel beam100+lm: 1 worker {wall1:.2f} s, 2 workers {wall2:.2f} s wall -> speedup "
          f"{parallel['speedup']:.2f}x (target >= {SPEEDUP_TARGET}; load average {parallel['load_average']}, {os.cpu_count()} cpus); "
          f"worker CPU {cpu1:.2f} s vs {cpu2:.2f} s summed -> efficiency {parallel['cpu_efficiency']:.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source": source, "utterances": len(lps), "audio_s": round(audio_s, 1),
                               "frame_stats": stats, "targets_x_real_time_per_core": TARGETS, "results": rows,
                               "hotwords": {"count": len(hotwords), "cost": round(hot_cost, 3),
                                            "target": HOTWORD_COST_TARGET}, "parallel": parallel}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
