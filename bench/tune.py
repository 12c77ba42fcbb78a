"""Alpha/beta grid tuning: Ray Tune with 1 and 2 decoder workers against the same grid as a plain loop.

One run times, on the same dev set and LM, the seed's 45 x 8 grid (alpha 1.0-3.2, beta 0.1-0.45):

- ``plain``: :mod:`ds2ray.tune.plain` in this process (one decoder, the LM loaded once);
- ``tune x1`` / ``tune x2``: :func:`ds2ray.tune.search.tune_grid` on Ray Tune with 1 / 2 decoder
  actors (``reuse_actors=True``, log-probs in the object store once).

Wall times include everything each engine does for the grid (Tune's start-up, actor start, LM
loading); the local Ray cluster is started before timing (it is already running when ``ds2ray
tune`` joins a cluster). Worker CPU seconds (summed over points) are printed too: unlike wall time,
they barely move when other jobs load the machine. Every run must give the same error counts at
every point as the plain loop (checked).

Log-probs come from a trained checkpoint when ``--checkpoint`` and ``--manifest`` are given (computed
once). Otherwise they are SYNTHESISED from real English sentences (``ds2ray/resources/sentences_en.txt``)
by :func:`ds2ray.testing.logprobs.synthetic_log_probs` (``"peaky"``): peaky CTC-like matrices at
50 frames/s with 5 % letter confusions.
The 3-gram LM is built with lmplz from sentences the dev set does not use (``--lm`` for your own).

Targets (issue 6): 2 workers >= 1.7x faster than 1; Ray's overhead against the plain loop <= 15 %
with 1 worker.

    python bench/tune.py [--num-utterances 12] [--num-alphas 45 --num-betas 8] [--checkpoint C --manifest M]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

HERE = Path(__file__).resolve().parent
TARGETS = {"speedup_2_vs_1": 1.7, "ray_overhead_1_worker": 0.15}


def _decode_bench():
    """``bench/decode.py`` as a module (its checkpoint log-probs and frame rate)."""
    spec = importlib.util.spec_from_file_location("bench_decode", HERE / "decode.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def dev_set(args, tmp: Path):
    """(log_probs, refs, vocab, lm_path, source description)."""
    import numpy as np

    bd = _decode_bench()
    from ds2ray.data.english_text import builtin_sentences
    from ds2ray.testing.lm import build_tiny_lm
    from ds2ray.testing.logprobs import synthetic_log_probs

    sentences = list(builtin_sentences())
    n = args.num_utterances
    if args.checkpoint:
        lps, vocab, refs, audio_s = bd.checkpoint_log_probs(args.checkpoint, args.manifest, n)
        source, lm_sentences = f"checkpoint {args.checkpoint} on {args.manifest} ({audio_s:.0f} s of audio)", sentences
    else:
        from ds2ray.data.vocab import Vocabulary
        from ds2ray.lm.corpus import preprocess_english

        vocab = Vocabulary.english()
        rng = np.random.default_rng(args.seed)
        refs = [preprocess_english(s) for s in sentences[:n]]
        lps = [synthetic_log_probs(s, vocab, rng, "peaky") for s in refs]
        audio_s = sum(len(x) for x in lps) / bd.FRAMES_PER_SECOND
        source = (f"SYNTHETIC 'peaky' log-probs of {n} real sentences (no trained model given): "
                  f"{bd.FRAMES_PER_SECOND:.0f} frames/s, 5% letter confusions, {audio_s:.0f} s of 'audio'")
        lm_sentences = sentences[n:]  # the LM never saw the dev sentences
    lm = args.lm or str(build_tiny_lm(tmp, lm_sentences, name="bench3", memory="256M").model_path)
    return lps, refs, vocab, lm, source


def summarise(name: str, result, wall: float) -> dict:
    cpu = sum(p.cpu_s for p in result.points)
    return {"run": name, "engine": result.engine, "decoder_workers": result.num_workers, "wall_s": round(wall, 2),
            "worker_cpu_s": round(cpu, 2), "points": len(result.points), "stats": result.stats,
            "best": {"alpha": result.best_alpha, "beta": result.best_beta, "wer": round(result.best.wer, 4),
                     "cer": round(result.best.cer, 4)}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-utterances", type=int, default=12, help="dev utterances decoded at every point")
    p.add_argument("--num-alphas", type=int, default=45, help="grid alphas over [1.0, 3.2] (default 45)")
    p.add_argument("--num-betas", type=int, default=8, help="grid betas over [0.1, 0.45] (default 8)")
    p.add_argument("--beam-size", type=int, default=100, help="beam width (default 100)")
    p.add_argument("--checkpoint", default=None, help="trained checkpoint: tune on its log-probs (with --manifest)")
    p.add_argument("--manifest", default=None, help="dev manifest for --checkpoint")
    p.add_argument("--lm", default=None, help="LM to use (default: a 3-gram built from held-out sentences)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic log-probs")
    p.add_argument("--out", default=str(HERE / "results" / "tune.json"), help="JSON results")
    args = p.parse_args()
    if args.checkpoint and not args.manifest:
        p.error("--checkpoint needs --manifest")

    import ray

    from ds2ray.decode import DecoderConfig
    from ds2ray.tune.grid import GridSpec
    from ds2ray.tune.search import tune_grid

    tmp = Path(tempfile.mkdtemp(prefix="bench_tune_"))
    lps, refs, vocab, lm, source = dev_set(args, tmp)
    grid = GridSpec(1.0, 3.2, args.num_alphas, 0.1, 0.45, args.num_betas)
    decoder = DecoderConfig(type="beam", beam_width=args.beam_size)
    print(f"dev set: {source}\nLM: {lm}\ngrid: {grid.describe()}, beam {args.beam_size}")
    from ds2ray.raycluster import connect

    connect(2, include_dashboard=False, log_to_driver=False, temp_dir=str(tmp / "ray"))
    load_before = os.getloadavg()

    def every_tenth(label: str):
        """Print the header, the summary and every tenth point line (not 360 lines per run)."""
        seen = [0]

        def report(line: str) -> None:
            if "ETA" in line:
                seen[0] += 1
                if seen[0] not in (1, grid.size) and seen[0] % max(1, grid.size // 10):
                    return
            print(f"  {label}: {line}", flush=True)
        return report

    runs, results = [], {}
    for name, engine, workers in (("plain", "plain", 1), ("tune x1", "tune", 1), ("tune x2", "tune", 2)):
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        res = tune_grid(lps, refs, vocab, lm, grid, engine=engine, num_workers=workers, decoder=decoder,
                        report=every_tenth(name))
        wall = time.perf_counter() - t0
        results[name] = res
        runs.append(summarise(name, res, wall))
    ray.shutdown()
    load_after = os.getloadavg()

    reference = [(p.alpha, p.beta, p.word, p.char) for p in results["plain"].points]
    identical = {name: [(p.alpha, p.beta, p.word, p.char) for p in r.points] == reference
                 for name, r in results.items()}
    wall = {r["run"]: r["wall_s"] for r in runs}
    cpu = {r["run"]: r["worker_cpu_s"] for r in runs}
    speedup = wall["tune x1"] / wall["tune x2"]
    overhead = wall["tune x1"] / wall["plain"] - 1.0
    summary = {"speedup_2_vs_1": round(speedup, 3), "ray_overhead_1_worker": round(overhead, 3),
               "worker_cpu_2_vs_1": round(cpu["tune x2"] / max(cpu["tune x1"], 1e-9), 3),
               "seconds_per_point_plain": round(wall["plain"] / grid.size, 3),
               "same_counts_at_every_point": identical}

    print(f"\n{'run':<10}{'workers':>8}{'wall s':>10}{'worker cpu s':>14}{'best alpha':>12}{'best beta':>11}{'WER':>8}")
    for r in runs:
        print(f"{r['run']:<10}{r['decoder_workers']:>8}{r['wall_s']:>10.1f}{r['worker_cpu_s']:>14.1f}"
              f"{r['best']['alpha']:>12g}{r['best']['beta']:>11g}{r['best']['wer']:>8.4f}")
    ok = lambda good: "meets" if good else "MISSES"  # noqa: E731
    print(f"\n2 workers vs 1: {speedup:.2f}x faster ({ok(speedup >= TARGETS['speedup_2_vs_1'])} target >= 1.7x); "
          f"worker CPU 2 vs 1: {summary['worker_cpu_2_vs_1']:.2f}")
    print(f"Ray overhead vs plain loop, 1 worker: {100 * overhead:+.1f}% "
          f"({ok(overhead <= TARGETS['ray_overhead_1_worker'])} target <= 15%)")
    print(f"same error counts as the plain loop at every point: {identical}")
    print(f"load average before {[round(x, 1) for x in load_before]}, after {[round(x, 1) for x in load_after]} "
          f"on {os.cpu_count()} cpus (timings are noisy while other jobs run)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source": source, "utterances": len(lps), "grid": grid.to_dict(),
                               "beam_width": args.beam_size, "targets": TARGETS, "summary": summary, "runs": runs,
                               "cpus": os.cpu_count(), "platform": platform.platform(),
                               "load_average_before": [round(x, 2) for x in load_before],
                               "load_average_after": [round(x, 2) for x in load_after]}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
