"""Streaming recognition (ds2ray.streaming) in process: latency from the end of a chunk to its
partial, real-time factor per stream, and how many concurrent real-time streams one process holds.

Each stream is a thread that feeds a clip of speech-like audio in ``--chunk-ms`` chunks at real-time
pace (chunk ``i`` is sent when its audio would have ended) and times each ``accept`` until it
returns the chunk's events; a stream that falls behind real time sends late, and its latency
includes the wait. ``finish`` gives the final: its latency is from the end of the audio. Torch runs
one intra-op thread (streams share the cores through the threads). Without ``--checkpoint`` an
untrained ``online``-preset checkpoint is built: latency does not depend on the weights.

Baseline, in the same run: today's push-to-talk path, the offline model over the whole clip after
it ends (``AcousticModel.log_probs`` + greedy), whose latency is what a user waits after releasing
the button. Target (issue 17): p50 chunk-to-partial latency <= 300 ms with 1 and with 8 streams on
a 2-core CPU. The sustain search doubles the stream count while p50 <= the target and no stream
ends more than one chunk behind real time.

    python bench/stream.py [--checkpoint C] [--levels 1,8] [--sustain] [--out bench/results/stream.json]
    python bench/stream.py --batched     # all streams on one thread, one batched step per chunk
    python bench/stream.py --tiny        # a few seconds: checks the bench runs, not a result
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from ds2ray.decode.greedy import GreedyDecoder
from ds2ray.streaming import EndpointConfig, StreamingRecognizer, load_streaming_recognizer
from ds2ray.testing.signals import speechlike

TARGET_P50_MS = 300.0


def one_stream(recognizer: StreamingRecognizer, audio: np.ndarray, chunk: int, start_at: float,
               paced: bool) -> dict:
    """Feed ``audio`` in ``chunk``-sample pieces from wall time ``start_at``; per-chunk latencies."""
    rate = recognizer.sample_rate
    stream = recognizer.stream()
    latencies, busy = [], 0.0
    for i, begin in enumerate(range(0, len(audio), chunk)):
        piece = audio[begin: begin + chunk]
        due = start_at + (begin + len(piece)) / rate  # when this chunk's audio has been spoken
        if paced:
            time.sleep(max(0.0, due - time.perf_counter()))
        t = time.perf_counter()
        events = stream.accept(piece)
        done = time.perf_counter()
        busy += done - t
        if events:
            latencies.append(done - (due if paced else t))
    t = time.perf_counter()
    stream.finish()
    done = time.perf_counter()
    busy += done - t
    audio_end = start_at + len(audio) / rate
    return {"latencies": latencies, "busy": busy, "final_latency": done - (audio_end if paced else t),
            "behind_s": max(0.0, done - audio_end - (done - t)) if paced else 0.0}


def level(recognizer: StreamingRecognizer, audio: np.ndarray, chunk: int, streams: int, paced: bool = True) -> dict:
    """``streams`` concurrent streams of ``audio``; latency percentiles (ms) and real-time factors."""
    results: list[dict] = [{}] * streams
    start_at = time.perf_counter() + 0.05

    def worker(k: int) -> None:
        results[k] = one_stream(recognizer, audio, chunk, start_at, paced)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(streams)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lat = np.array([x for r in results for x in r["latencies"]]) * 1000
    seconds = len(audio) / recognizer.sample_rate
    return {"streams": streams, "paced": paced, "chunk_ms": round(chunk / recognizer.sample_rate * 1000, 1),
            "audio_s": round(seconds, 2), "partials": int(lat.size),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p90_ms": round(float(np.percentile(lat, 90)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "final_p50_ms": round(float(np.median([r["final_latency"] for r in results])) * 1000, 1),
            "rtf": round(float(np.mean([r["busy"] for r in results])) / seconds, 3),
            "max_behind_s": round(max(r["behind_s"] for r in results), 3)}


def level_batched(recognizer: StreamingRecognizer, audio: np.ndarray, chunk: int, streams: int,
                  paced: bool = True) -> dict:
    """As :func:`level`, but as ``serve/stream.py``'s scheduler runs streams: all on one thread, and at
    each chunk's end one batched step over every stream (``StreamingRecognizer.accept_many``)."""
    rate = recognizer.sample_rate
    opened = [recognizer.stream() for _ in range(streams)]
    start_at = time.perf_counter() + 0.05
    latencies, busy = [], 0.0
    for begin in range(0, len(audio), chunk):
        piece = audio[begin: begin + chunk]
        due = start_at + (begin + len(piece)) / rate
        if paced:
            time.sleep(max(0.0, due - time.perf_counter()))
        t = time.perf_counter()
        events = recognizer.accept_many(opened, [piece] * streams)
        done = time.perf_counter()
        busy += done - t
        latencies += [done - (due if paced else t) for e in events if e]
    t = time.perf_counter()
    for stream in opened:
        stream.finish()
    done = time.perf_counter()
    busy += done - t
    audio_end = start_at + len(audio) / rate
    seconds = len(audio) / rate
    lat = np.array(latencies) * 1000
    return {"streams": streams, "paced": paced, "batched": True, "chunk_ms": round(chunk / rate * 1000, 1),
            "audio_s": round(seconds, 2), "partials": int(lat.size),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p90_ms": round(float(np.percentile(lat, 90)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "final_p50_ms": round((done - (audio_end if paced else t)) * 1000, 1),
            "rtf": round(busy / streams / seconds, 3),
            "max_behind_s": round(max(0.0, t - audio_end), 3) if paced else 0.0}


def offline_baseline(recognizer: StreamingRecognizer, audio: np.ndarray, repeats: int = 3) -> dict:
    """The whole clip through the offline model after it ends (push-to-talk): latency and RTF."""
    decoder = GreedyDecoder(recognizer.acoustic.vocab)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        decoder.decode(recognizer.acoustic.log_probs([audio])[0])
        times.append(time.perf_counter() - t)
    best = float(np.median(times))
    return {"latency_ms": round(best * 1000, 1), "rtf": round(best / (len(audio) / recognizer.sample_rate), 3)}


def sustained(recognizer: StreamingRecognizer, audio: np.ndarray, chunk: int, max_streams: int,
              measure=None) -> tuple[int, list]:
    """The most streams (doubling) that stay within the target and real time; the levels tried."""
    best, tried, n = 0, [], 1
    while n <= max_streams:
        row = (measure or level)(recognizer, audio, chunk, n)
        tried.append(row)
        print(f"  sustain: {n:>3} streams  p50 {row['p50_ms']:>7.1f} ms  behind {row['max_behind_s']:.3f} s",
              flush=True)
        if row["p50_ms"] > TARGET_P50_MS or row["max_behind_s"] > chunk / recognizer.sample_rate:
            break
        best, n = n, n * 2
    return best, tried


def add_stream_bench_args(p: argparse.ArgumentParser, chunk_ms: float, chunk_help: str) -> None:
    """The flags this benchmark shares with ``bench/stream_serve.py``."""
    p.add_argument("--checkpoint", default=None, help="a unidirectional checkpoint (default: untrained 'online')")
    p.add_argument("--clip-seconds", type=float, default=10.0, help="audio per stream (default 10)")
    p.add_argument("--chunk-ms", type=float, default=chunk_ms, help=chunk_help)
    p.add_argument("--levels", default="1,8", help="concurrent streams to measure (default 1,8)")
    p.add_argument("--sustain", action="store_true", help="also search the most real-time streams (doubling)")
    p.add_argument("--max-streams", type=int, default=64, help="sustain search limit (default 64)")
    p.add_argument("--tiny", action="store_true", help="2 s clips, levels 1,2, no sustain search: a smoke run")


def parse_stream_bench_args(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; ``--tiny`` shrinks the run to a smoke check."""
    args = p.parse_args(argv)
    if args.tiny:
        args.clip_seconds, args.levels, args.sustain = 2.0, "1,2", False
    return args


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stream_bench_args(p, 160.0, "chunk length (default 160 ms)")
    p.add_argument("--batched", action="store_true",
                   help="all streams on one thread, one batched step per chunk (as the server's scheduler)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "stream.json"))
    args = parse_stream_bench_args(p, argv)
    measure = level_batched if args.batched else level
    torch.set_num_threads(1)
    checkpoint = args.checkpoint
    if checkpoint is None:
        from ds2ray.testing.checkpoints import make_untrained_checkpoint

        checkpoint = make_untrained_checkpoint(tempfile.mkdtemp(prefix="bench_stream_") + "/online", preset="online")
    recognizer = load_streaming_recognizer(checkpoint, EndpointConfig())
    rate = recognizer.sample_rate
    audio = speechlike(args.clip_seconds, rate, seed=3)
    chunk = max(1, int(round(args.chunk_ms * rate / 1000)))
    level(recognizer, audio[: rate], chunk, 1, paced=False)  # warm up
    baseline = offline_baseline(recognizer, audio)
    rows = [level(recognizer, audio, chunk, 1, paced=False)]  # compute only: the RTF of one stream
    rows += [measure(recognizer, audio, chunk, int(n)) for n in args.levels.split(",") if n.strip()]
    best, tried = sustained(recognizer, audio, chunk, args.max_streams, measure) if args.sustain else (None, [])
    print(f"\nstreaming, {args.clip_seconds:g} s clips in {args.chunk_ms:g} ms chunks, lookahead "
          f"{recognizer.lookahead_seconds * 1000:.0f} ms, 1 torch thread, "
          f"{'one batched step per chunk' if args.batched else 'a thread per stream'}, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'streams':>8}{'paced':>7}{'partials':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'final p50':>11}"
          f"{'RTF':>7}{'behind s':>10}")
    for r in rows:
        print(f"{r['streams']:>8}{str(r['paced']):>7}{r['partials']:>9}{r['p50_ms']:>9.1f}{r['p90_ms']:>9.1f}"
              f"{r['p99_ms']:>9.1f}{r['final_p50_ms']:>11.1f}{r['rtf']:>7.3f}{r['max_behind_s']:>10.3f}")
    print(f"baseline (offline after the clip ends): {baseline['latency_ms']:.1f} ms, RTF {baseline['rtf']:.3f}")
    if best is not None:
        print(f"real-time streams sustained (p50 <= {TARGET_P50_MS:.0f} ms, not behind): {best}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"checkpoint": args.checkpoint or "untrained online preset", "tiny": args.tiny,
                               "chunk_ms": args.chunk_ms, "clip_seconds": args.clip_seconds, "batched": args.batched,
                               "lookahead_ms": round(recognizer.lookahead_seconds * 1000, 1),
                               "target_p50_ms": TARGET_P50_MS, "levels": rows, "baseline_offline": baseline,
                               "sustained_streams": best, "sustain_levels": tried,
                               "cpu_count": __import__("os").cpu_count()}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
