"""Latency and throughput of the transcription service over HTTP, batching on vs off, in one run.

5 s clips (WAV, 16 kHz) are POSTed to ``/transcribe`` on 127.0.0.1 at concurrency 1, 8 and 32;
each level reports p50/p99 latency and requests (and audio seconds) per second. Without
``--checkpoint`` an untrained checkpoint of the ``demo`` preset is built: latency does not depend
on the weights. Greedy decoding. Targets: p50 <= 150 ms at concurrency 1 on CPU; batching >= 2x
the throughput of one-at-a-time at concurrency 32.

    python bench/serve.py [--checkpoint C] [--requests 0] [--out bench/results/serve.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# `python bench/serve.py` puts bench/ first on sys.path, where this file would shadow the `serve` package
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def demo_checkpoint(folder: str) -> str:
    """An untrained ``demo``-preset checkpoint (identity normaliser)."""
    from ds2ray.testing.checkpoints import make_untrained_checkpoint

    return make_untrained_checkpoint(folder, preset="demo")


def clip_bytes(seconds: float, rate: int = 16000) -> bytes:
    import io

    import soundfile as sf

    from ds2ray.testing.signals import speechlike

    buf = io.BytesIO()
    sf.write(buf, speechlike(seconds, rate, seed=3), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def load(url: str, data: bytes, concurrency: int, n: int) -> dict:
    """``n`` POSTs with ``concurrency`` in flight; latencies in ms and throughput."""
    import threading

    import requests

    local = threading.local()

    def one(_: int) -> tuple[float, int, int]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        t0 = time.perf_counter()
        r = local.session.post(f"{url}/transcribe", data=data, headers={"Content-Type": "audio/wav"}, timeout=300)
        ms = (time.perf_counter() - t0) * 1000
        batch = r.json().get("timing", {}).get("batch_size", 0) if r.status_code == 200 else 0
        return ms, r.status_code, batch

    with ThreadPoolExecutor(concurrency) as pool:  # warm the connections and the replica
        list(pool.map(one, range(concurrency)))
        t0 = time.perf_counter()
        results = list(pool.map(one, range(n)))
        wall = time.perf_counter() - t0
    lat = np.array([r[0] for r in results])
    errors = sum(1 for r in results if r[1] != 200)
    return {"concurrency": concurrency, "requests": n, "errors": errors,
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "mean_ms": round(float(lat.mean()), 1), "throughput_rps": round(n / wall, 2),
            "mean_batch": round(float(np.mean([r[2] for r in results])), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="checkpoint to serve (default: untrained demo preset)")
    parser.add_argument("--clip-seconds", type=float, default=5.0, help="clip length (default 5)")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument("--requests", type=int, default=0,
                        help="requests per level (default: max(30, 4 x concurrency))")
    parser.add_argument("--num-cpus", type=float, default=1.0, help="CPUs (torch threads) of the model replica")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve.json"))
    args = parser.parse_args()

    import ray

    from serve.app import start_server
    from serve.config import ServeConfig

    tmp = tempfile.mkdtemp(prefix="bench_serve_")
    checkpoint = args.checkpoint or demo_checkpoint(os.path.join(tmp, "demo"))
    data = clip_bytes(args.clip_seconds)
    levels = [int(x) for x in args.levels.split(",")]
    from ds2ray.raycluster import connect

    connect(max(2, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False,
            temp_dir=os.path.join(tmp, "ray"))
    load_before = os.getloadavg()[0]
    rows = []
    try:
        for batching in (True, False):
            cfg = ServeConfig(checkpoint=checkpoint, batching=batching, port=0, num_cpus=args.num_cpus,
                              api_key_env="", name=f"bench-{'on' if batching else 'off'}",
                              max_ongoing_requests=64)
            server = start_server(cfg)
            try:
                for c in levels:
                    n = args.requests or max(30, 4 * c)
                    row = {"batching": batching, **load(server.url, data, c, n)}
                    rows.append(row)
                    print(f"batching {'on ' if batching else 'off'} c={c:>2}: p50 {row['p50_ms']:7.1f} ms  "
                          f"p99 {row['p99_ms']:7.1f} ms  {row['throughput_rps']:6.2f} req/s  "
                          f"mean batch {row['mean_batch']:.1f}  errors {row['errors']}", flush=True)
            finally:
                server.stop()
    finally:
        ray.shutdown()

    def at(batching: bool, c: int) -> dict:
        return next(r for r in rows if r["batching"] == batching and r["concurrency"] == c)

    print(f"\n{'batching':>8} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} {'audio s/s':>9} {'batch':>5}")
    for r in rows:
        print(f"{'on' if r['batching'] else 'off':>8} {r['concurrency']:>4} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['throughput_rps']:>7.2f} {r['throughput_rps'] * args.clip_seconds:>9.1f} {r['mean_batch']:>5.1f}")
    summary = {}
    if 1 in levels:
        summary["p50_ms_c1"] = at(True, 1)["p50_ms"]
        summary["p50_target_met"] = summary["p50_ms_c1"] <= 150
    top = max(levels)
    summary[f"batching_speedup_c{top}"] = round(at(True, top)["throughput_rps"] / at(False, top)["throughput_rps"], 2)
    summary["speedup_target_met"] = summary[f"batching_speedup_c{top}"] >= 2.0
    print(f"\np50 at concurrency 1: {summary.get('p50_ms_c1')} ms (target <= 150); batching speedup at "
          f"concurrency {top}: {summary[f'batching_speedup_c{top}']}x (target >= 2)")
    result = {"benchmark": "serve", "clip_seconds": args.clip_seconds, "decoder": "greedy",
              "checkpoint": args.checkpoint or "untrained demo preset", "model_num_cpus": args.num_cpus,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2)},
              "rows": rows, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
