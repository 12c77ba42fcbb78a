"""Streaming through the service: latency from the end of a chunk to its partial over the WebSocket
``/stream`` of a running Serve app, with 1 and with N concurrent streams, and how many real-time
streams one front replica sustains.

The same measurement as ``bench/stream.py`` (the library in process), with the network, Serve's
proxy, the JSON messages and the front replica's scheduler (batched steps) in the path. Each stream is a client
(websockets, asyncio, all in this process) that sends a clip of speech-like audio in ``--chunk-ms``
PCM16 frames at real-time pace. A partial reports how far its decoded frames reach (``end``); the
chunk it answers is the first whose audio makes that many output frames ready
(:func:`ds2ray.streaming.state.ready_output_frames`), and its latency runs from when that chunk's
audio ended (and was sent) to the partial's arrival. The final's latency runs from the end of the
audio (``stop`` sent) to the last final. Without ``--checkpoint`` an untrained ``online`` checkpoint
is built: latency does not depend on the weights.

Baseline, in the same run: the library in this process on the same clip and chunks, one stream
(``bench/stream.py``'s measurement), so the service's overhead is the difference. Target (issue 17):
p50 <= 300 ms with 1 and with 8 streams on a 2-core CPU.

    python -m bench.stream_serve [--checkpoint C] [--levels 1,8] [--sustain] [--stream-num-cpus 1]
    python -m bench.stream_serve --stream-decoder beam      # beam search + en's LM on /stream
    python -m bench.stream_serve --tiny     # a few seconds of audio: checks the bench runs, not a result

(``python bench/stream_serve.py`` re-runs itself that way, so that ``serve`` is the package.)
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not __package__:  # run as a file: re-run as a module from the repo root
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(_ROOT)
    os.execv(sys.executable, [sys.executable, "-m", "bench.stream_serve", *sys.argv[1:]])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

TARGET_P50_MS = 300.0


async def one_stream(url: str, frames: list[bytes], ready: list[int], frame_s: float, rate: int,
                     start_at: float) -> dict:
    """Send ``frames`` at real-time pace from ``start_at`` (loop time); per-partial latencies (s)."""
    from websockets.asyncio.client import connect

    sent_at: list[float] = []
    latencies: list[float] = []
    final_at = [0.0]
    async with connect(url, max_size=2**22, ping_interval=None) as ws:  # a slow server is measured, not dropped
        await ws.send(json.dumps({"type": "start", "sample_rate": rate, "encoding": "pcm16"}))
        assert json.loads(await ws.recv())["type"] == "start_ok"

        async def receive() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                now = time.perf_counter()
                if msg["type"] == "partial":
                    need = int(round(msg["end"] / frame_s))
                    k = next((i for i, r in enumerate(ready) if r >= need), len(ready) - 1)
                    if k < len(sent_at):
                        latencies.append(now - sent_at[k])
                elif msg["type"] == "final":
                    final_at[0] = now

        receiver = asyncio.create_task(receive())
        samples = 0
        for frame in frames:
            samples += len(frame) // 2
            due = start_at + samples / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent_at.append(max(due, time.perf_counter()))
            await ws.send(frame)
        stop_at = time.perf_counter()
        await ws.send(json.dumps({"type": "stop"}))
        await receiver
    behind = max(0.0, sent_at[-1] - (start_at + samples / rate))
    return {"latencies": latencies, "final_latency": final_at[0] - stop_at, "behind_s": behind}


async def level_async(url: str, frames: list[bytes], ready: list[int], frame_s: float, rate: int,
                      streams: int) -> list[dict]:
    start_at = time.perf_counter() + 0.2
    return await asyncio.gather(*(one_stream(url, frames, ready, frame_s, rate, start_at) for _ in range(streams)))


def level(url: str, frames: list[bytes], ready: list[int], frame_s: float, rate: int, streams: int,
          chunk_s: float) -> dict:
    results = asyncio.run(level_async(url, frames, ready, frame_s, rate, streams))
    lat = np.array([x for r in results for x in r["latencies"]]) * 1000
    return {"streams": streams, "partials": int(lat.size),
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "p90_ms": round(float(np.percentile(lat, 90)), 1) if lat.size else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if lat.size else None,
            "final_p50_ms": round(float(np.median([r["final_latency"] for r in results])) * 1000, 1),
            "max_behind_s": round(max(r["behind_s"] for r in results), 3),
            "real_time": bool(max(r["behind_s"] for r in results) <= chunk_s)}


def in_process_baseline(checkpoint: str, audio: np.ndarray, chunk: int) -> dict:
    """The library alone, one stream, same chunks: time of each ``accept`` that returned a partial."""
    from ds2ray.streaming import load_streaming_recognizer

    import torch

    torch.set_num_threads(1)  # as each of the front replica's stream threads
    recognizer = load_streaming_recognizer(checkpoint)
    stream = recognizer.stream()
    times = []
    for i in range(0, len(audio), chunk):
        t = time.perf_counter()
        if stream.accept(audio[i: i + chunk]):
            times.append(time.perf_counter() - t)
    stream.finish()
    return {"p50_ms": round(float(np.median(times)) * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    from bench.stream import add_stream_bench_args, parse_stream_bench_args

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stream_bench_args(p, 100.0, "frame length (default 100 ms, as the clients)")
    p.add_argument("--stream-num-cpus", type=float, default=1.0, help="CPUs (threads) for streams (default 1)")
    p.add_argument("--stream-decoder", choices=("greedy", "beam"), default="greedy",
                   help="/stream's decoder (default greedy); beam: with the shipped en model's LM and tuned weights")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "stream_serve.json"))
    args = parse_stream_bench_args(p, argv)

    from ds2ray.model.checkpoint import load_checkpoint
    from ds2ray.streaming.state import ready_output_frames
    from ds2ray.testing.signals import speechlike
    from serve.app import run_in_process
    from serve.stream_client import chunks_of

    checkpoint = args.checkpoint
    if checkpoint is None:
        from ds2ray.testing.checkpoints import make_untrained_checkpoint

        checkpoint = make_untrained_checkpoint(tempfile.mkdtemp(prefix="bench_stream_serve_") + "/online",
                                               preset="online")
    ck = load_checkpoint(checkpoint)
    rate = ck.feature_config.sample_rate
    audio = speechlike(args.clip_seconds, rate, seed=3)
    chunk = max(1, int(round(args.chunk_ms * rate / 1000)))
    frames = chunks_of(audio, rate, args.chunk_ms)
    ready, total = [], 0
    for f in frames:
        total += len(f) // 2
        ready.append(ready_output_frames(ck.model_config, ck.feature_config, total))
    levels = [int(x) for x in args.levels.split(",")]
    max_streams = max(levels + ([args.max_streams] if args.sustain else []))
    from ds2ray.raycluster import connect

    # a Ray of its own (never a cluster already running on this machine), on every core
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # else a local ray.init() turns token auth on
    connect(address="local", temp_dir=tempfile.mkdtemp(prefix="ray_bench_stream_serve_"), include_dashboard=False,
            log_to_driver=False)
    beam = {}
    if args.stream_decoder == "beam":  # the served decoder: beam search with en's LM, which /stream then uses
        from dataclasses import asdict

        from ds2ray.pretrained import get

        beam = {k: v for k, v in asdict(get("en").beam_config()).items() if k != "type"}
        beam.update(decoder="beam", stream_decoder="beam")
    server = run_in_process(checkpoint, stream_checkpoint=checkpoint, port=0, name="bench-stream", num_cpus=0.25,
                            stream_num_cpus=args.stream_num_cpus, stream_max_streams=max_streams + 1,
                            stream_idle_timeout_s=60, stream_max_seconds=args.clip_seconds + 60, **beam)
    try:
        import requests

        def stream_info() -> dict:
            return requests.get(f"{server.url}/healthz", timeout=30).json()["stream"]

        def measured(n: int) -> dict:
            """One level, with the scheduler's steps during it and their mean batch (streams per step)."""
            before = stream_info()
            row = level(url, frames, ready, frame_s, rate, n, chunk_s)
            after = stream_info()
            steps = after["steps"] - before["steps"]
            stepped = after["stepped"] - before["stepped"]
            row.update(steps=steps, mean_batch=round(stepped / steps, 2) if steps else None)
            return row

        info = stream_info()
        frame_s = info["frame_s"]
        url = server.url.replace("http://", "ws://") + "/stream"
        chunk_s = chunk / rate
        level(url, frames[:10], ready, frame_s, rate, 1, chunk_s)  # warm up
        rows = []
        for n in levels:
            rows.append(measured(n))
            r = rows[-1]
            print(f"{n:>4} streams  partial p50 {r['p50_ms']} ms  p90 {r['p90_ms']} ms  p99 {r['p99_ms']} ms  "
                  f"final p50 {r['final_p50_ms']} ms  behind {r['max_behind_s']} s  steps {r['steps']} "
                  f"(mean batch {r['mean_batch']})", flush=True)
        sustained, tried, n = 0, [], 1
        while args.sustain and n <= args.max_streams:
            row = measured(n)
            tried.append(row)
            print(f"  sustain: {n:>3} streams  p50 {row['p50_ms']} ms  behind {row['max_behind_s']} s", flush=True)
            if row["p50_ms"] is None or row["p50_ms"] > TARGET_P50_MS or not row["real_time"]:
                break
            sustained, n = n, n * 2
    finally:
        import ray

        server.stop()
        ray.shutdown()
    baseline = in_process_baseline(checkpoint, audio, chunk)
    print(f"baseline (library in process, 1 stream): accept p50 {baseline['p50_ms']} ms")
    for r in rows:
        ok = r["p50_ms"] is not None and r["p50_ms"] <= TARGET_P50_MS
        print(f"target p50 <= {TARGET_P50_MS:g} ms with {r['streams']} stream(s): {'met' if ok else 'NOT met'}")
    if args.sustain:
        print(f"real-time streams sustained by one front replica ({args.stream_num_cpus:g} CPU): {sustained}")
    result = {"bench": "stream_serve", "checkpoint": checkpoint, "clip_s": args.clip_seconds,
              "chunk_ms": args.chunk_ms, "stream_num_cpus": args.stream_num_cpus,
              "stream_decoder": args.stream_decoder, "levels": rows,
              "sustained": sustained if args.sustain else None, "sustain_tried": tried, "baseline": baseline,
              "target_p50_ms": TARGET_P50_MS, "cpus": os.cpu_count(), "machine": platform.processor() or
              platform.machine(), "tiny": args.tiny}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
