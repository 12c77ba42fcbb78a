"""Transcription service over HTTP: latency at concurrency 1 with greedy and with beam + LM, where the
time goes, the torch backend against the onnx one, and the batching gain at concurrency 32, in one run.

A 5 s clip (real speech from ``../shared/data`` when present, else a synthetic speech-like signal;
16 kHz WAV) is POSTed to ``/transcribe`` on 127.0.0.1. For each backend (torch on the checkpoint,
onnxruntime on its ``ds2ray export``; ``auto`` picks it from the ``.onnx`` suffix) and each decoder
(greedy; beam + the shipped model's KenLM and tuned alpha/beta, or ``--lm``/``--tuned``) one server
runs with batching on (``onnx-int8``: the ``--int8`` export); each reports p50/p99 latency and throughput at concurrency 1 and 32, and the
medians of the server's own timing split (``timing`` in every answer): audio decoding, model
(features + network), CTC decode/search, queue (the rest of the wall time: HTTP, Serve routing,
batch wait). Targets: p50 <= 60 ms at concurrency 1 on CPU, greedy and beam + LM; throughput at
concurrency 32 >= 3x that at concurrency 1.

    python -m bench.serve [--checkpoint en] [--clip-seconds 5] [--requests 40] [--out bench/results/serve.json]

Quick A/B runs take only some rows (``--backends onnx --decoders greedy``) and vary the replica layout
(``--replicas``, ``--model-threads``, ``--solo-threads``) or Serve's own switches (``--ray-env KEY=VALUE``);
``--layouts split,colocated`` runs each server both as front + model replicas and with the model in the
front (``ds2ray serve --colocate``: one Ray call fewer per request).

(``python bench/serve.py`` re-runs itself that way: run as a file, ``bench/`` would come first on
the import path and this file would stand in for the ``serve`` package.)
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not __package__:  # run as a file: re-run as a module from the repo root
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(_ROOT)
    os.execv(sys.executable, [sys.executable, "-m", "bench.serve", *sys.argv[1:]])

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

#: Server-side timing fields (``timing`` of a ``/transcribe`` answer) summarised per run, in ms.
TIMING_FIELDS = ("audio_decode_ms", "model_ms", "ctc_decode_ms", "queue_ms", "total_ms")
P50_TARGET_MS = 60.0
BATCHING_TARGET = 3.0
SHARED_DATA = Path(os.environ.get("DS2RAY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def speech_clip(seconds: float, rate: int = 16000) -> tuple[np.ndarray, str]:
    """``seconds`` of real speech (speechbrain clips joined) when the shared data is there, else a
    seeded speech-like signal; and where it came from."""
    import soundfile as sf

    manifest = SHARED_DATA / "speechbrain" / "manifest.jsonl"
    if manifest.is_file():
        pieces, total = [], 0
        for line in manifest.read_text().splitlines():
            audio, sr = sf.read(str(manifest.parent / json.loads(line)["audio_filepath"]), dtype="float32")
            if sr == rate and audio.ndim == 1:
                pieces.append(audio)
                total += len(audio)
            if total >= seconds * rate:
                return np.concatenate(pieces)[: int(seconds * rate)], f"real speech ({manifest.parent.name})"
    from ds2ray.testing.signals import speechlike

    return speechlike(seconds, rate, seed=3), "synthetic speech-like signal"


def wav_bytes(audio: np.ndarray, rate: int = 16000) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def load(url: str, data: bytes, concurrency: int, n: int) -> dict:
    """``n`` POSTs with ``concurrency`` in flight (after one warm-up round): client latencies, throughput,
    and the medians of the server's timing split."""
    import requests

    local = threading.local()

    def one(_: int) -> tuple[float, int, dict]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        t0 = time.perf_counter()
        r = local.session.post(f"{url}/transcribe", data=data, headers={"Content-Type": "audio/wav"}, timeout=300)
        ms = (time.perf_counter() - t0) * 1000
        return ms, r.status_code, (r.json().get("timing", {}) if r.status_code == 200 else {})

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency)))  # warm the connections and the replica
        t0 = time.perf_counter()
        results = list(pool.map(one, range(n)))
        wall = time.perf_counter() - t0
    lat = np.array([r[0] for r in results])
    timings = [r[2] for r in results if r[2]]
    split = {f: round(float(np.median([t.get(f, 0.0) for t in timings])), 1) if timings else None
             for f in TIMING_FIELDS}
    return {"concurrency": concurrency, "requests": n, "errors": sum(1 for r in results if r[1] != 200),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "throughput_rps": round(n / wall, 2),
            "mean_batch": round(float(np.mean([t.get("batch_size", 0) for t in timings])), 2) if timings else 0.0,
            "server_median": split}


def beam_settings(checkpoint: str, lm: str | None, tuned: str | None) -> dict | None:
    """ServeConfig fields for beam + LM: ``--lm``/``--tuned``, else a shipped model's own; None: no LM."""
    if lm:
        return {"decoder": "beam", "lm_path": lm, "tuned": tuned}
    from ds2ray import pretrained

    shipped = pretrained.find(checkpoint)
    if shipped is None or shipped.lm_path is None:
        return None
    return {"decoder": "beam", "lm_path": str(shipped.lm_path),
            "tuned": str(shipped.tuned_path) if shipped.tuned_path else tuned}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="en", help="checkpoint or shipped model to serve (default en)")
    parser.add_argument("--onnx", default=None, help="its ONNX export (default: exported now into a temp folder)")
    parser.add_argument("--lm", default=None, help="KenLM for beam (default: the shipped model's)")
    parser.add_argument("--tuned", default=None, help="tuned.json with alpha/beta for beam")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8",
                        help="backends to compare: torch (precision auto: bf16 products on a CPU with native "
                             "bf16), torch-fp32, onnx, onnx-int8 (its --int8 export) (default torch, onnx, onnx-int8)")
    parser.add_argument("--decoders", default="greedy,beam+lm", help="decoders to run: greedy, beam+lm (default both)")
    parser.add_argument("--clip-seconds", type=float, default=5.0, help="clip length (default 5)")
    parser.add_argument("--levels", default="1,32", help="concurrency levels (default 1,32)")
    parser.add_argument("--requests", type=int, default=0, help="requests per level (default max(40, 4 x concurrency))")
    parser.add_argument("--num-cpus", type=float, default=1.0, help="CPUs (threads) of the model replica (default 1)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="model replicas (default 1); Ray gets enough logical CPUs for them and the front")
    parser.add_argument("--model-threads", type=int, default=0,
                        help="model threads of the replica (default 0: as many as --num-cpus)")
    parser.add_argument("--solo-threads", type=int, default=0,
                        help="model threads for a lone request on an idle replica (default 0: as --model-threads)")
    parser.add_argument("--ray-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment for the local Ray and its workers, e.g. Serve's own switches "
                             "(RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP=0); repeat for several")
    parser.add_argument("--layouts", default="split",
                        help="deployments to compare: split (front + model replicas), colocated (the front runs "
                             "the model: --colocate); default split")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve.json"))
    args = parser.parse_args()

    import ray

    from ds2ray.inference.export import export_onnx, quantize_onnx
    from ds2ray.raycluster import connect
    from serve.app import start_server
    from serve.config import ServeConfig

    tmp = tempfile.mkdtemp(prefix="bench_serve_")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    sources = {"torch": args.checkpoint, "torch-fp32": args.checkpoint}
    if "onnx" in backends or "onnx-int8" in backends:
        sources["onnx"] = args.onnx or export_onnx(args.checkpoint, os.path.join(tmp, "model.onnx")).path
    if "onnx-int8" in backends:
        sources["onnx-int8"] = os.path.join(tmp, "model.int8.onnx")
        quantize_onnx(sources["onnx"], sources["onnx-int8"])
    audio, clip_source = speech_clip(args.clip_seconds)
    data = wav_bytes(audio)
    levels = [int(x) for x in args.levels.split(",")]
    wanted = {d.strip() for d in args.decoders.split(",") if d.strip()}
    if not wanted <= {"greedy", "beam+lm"}:
        parser.error(f"--decoders {args.decoders}: choose from greedy, beam+lm")
    decoders = {"greedy": {"decoder": "greedy"}} if "greedy" in wanted else {}
    beam = beam_settings(args.checkpoint, args.lm, args.tuned) if "beam+lm" in wanted else None
    if beam is None and "beam+lm" in wanted:
        print("no LM (not a shipped model and no --lm): beam + LM skipped", flush=True)
    elif beam is not None:
        decoders["beam+lm"] = beam

    # logical CPUs: the machine's, or more when the replicas reserve more (they then share the cores)
    wanted_cpus = math.ceil(args.replicas * args.num_cpus + ServeConfig.front_num_cpus)
    bad_env = [e for e in args.ray_env if "=" not in e]
    if bad_env:
        parser.error(f"--ray-env {bad_env[0]!r}: write KEY=VALUE")
    ray_env = dict(e.split("=", 1) for e in args.ray_env)
    connect(max(2, os.cpu_count() or 2, wanted_cpus), env=ray_env, include_dashboard=False, log_to_driver=False,
            temp_dir=os.path.join(tmp, "ray"))
    load_before = os.getloadavg()[0]
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    if not set(layouts) <= {"split", "colocated"}:
        parser.error(f"--layouts {args.layouts}: choose from split, colocated")
    rows = []
    try:
        for layout in layouts:
            for backend in backends:
                for name, settings in decoders.items():
                    cfg = ServeConfig(checkpoint=sources[backend], backend=backend.split("-")[0], port=0,
                                      num_cpus=args.num_cpus, model_threads=args.model_threads, replicas=args.replicas,
                                      solo_threads=args.solo_threads, colocate=layout == "colocated",
                                      api_key_env="", name=f"bench-{layout}-{backend}-{name.replace('+', '-')}",
                                      max_ongoing_requests=64, precision="fp32" if backend == "torch-fp32" else "auto",
                                      **settings)
                    server = start_server(cfg)
                    try:
                        for c in levels:
                            row = {"layout": layout, "backend": backend, "decoder": name,
                                   **load(server.url, data, c, args.requests or max(40, 4 * c))}
                            rows.append(row)
                            s = row["server_median"]
                            print(f"{layout:>9} {backend:>9} {name:>7} c={c:>2}: p50 {row['p50_ms']:7.1f} ms  "
                                  f"p99 {row['p99_ms']:7.1f}  {row['throughput_rps']:6.2f} req/s  model {s['model_ms']}  "
                                  f"search {s['ctc_decode_ms']}  queue {s['queue_ms']}  batch {row['mean_batch']:.1f}  "
                                  f"errors {row['errors']}", flush=True)
                    finally:
                        server.stop()
    finally:
        ray.shutdown()

    threads = args.model_threads or max(1, round(args.num_cpus))
    print(f"\nclip: {args.clip_seconds:g} s of {clip_source}; {args.replicas} model replica(s): "
          f"{args.num_cpus:g} CPU, {threads} thread(s) each, {max(threads, args.solo_threads)} for a lone request")
    print(f"{'layout':>9} {'backend':>9} {'decoder':>7} {'conc':>4} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>6} "
          f"{'decode':>7} {'model':>7} {'search':>7} {'queue':>7} {'batch':>5}")
    for r in rows:
        s = r["server_median"]
        print(f"{r['layout']:>9} {r['backend']:>9} {r['decoder']:>7} {r['concurrency']:>4} {r['p50_ms']:>7.1f} "
              f"{r['p99_ms']:>7.1f} "
              f"{r['throughput_rps']:>6.2f} {s['audio_decode_ms']:>7} {s['model_ms']:>7} {s['ctc_decode_ms']:>7} "
              f"{s['queue_ms']:>7} {r['mean_batch']:>5.1f}")
    print("(decode: audio decoding; model: features + network; search: CTC greedy/beam + LM; queue: the rest of the "
          "wall time, server medians in ms)")

    def at(backend: str, decoder: str, c: int, layout: str = layouts[0]) -> dict | None:
        return next((r for r in rows if (r["layout"], r["backend"], r["decoder"], r["concurrency"])
                     == (layout, backend, decoder, c)), None)

    summary: dict = {}
    top = max(levels)
    for layout, backend, name in ((lay, b, n) for lay in layouts for b in backends for n in decoders):
        one, many = at(backend, name, 1, layout), at(backend, name, top, layout)
        key = f"{backend}/{name}" if len(layouts) == 1 else f"{layout}/{backend}/{name}"
        if one:
            summary[f"{key} p50_ms_c1"] = one["p50_ms"]
            summary[f"{key} p50_target_met"] = one["p50_ms"] <= P50_TARGET_MS
        if one and many and top > 1:
            gain = round(many["throughput_rps"] / one["throughput_rps"], 2)
            summary[f"{key} batching_gain_c{top}"] = gain
            summary[f"{key} batching_target_met"] = gain >= BATCHING_TARGET
    for backend, name in ((b, n) for b in backends for n in decoders):  # the same app, with and without the hop
        split, colocated = at(backend, name, 1, "split"), at(backend, name, 1, "colocated")
        if split and colocated:
            summary[f"{backend}/{name} p50_c1 colocated/split"] = round(colocated["p50_ms"] / split["p50_ms"], 2)
    if {"torch", "torch-fp32"} <= set(backends) and at("torch", "greedy", 1) and at("torch-fp32", "greedy", 1):
        summary["model_ms_c1 torch-fp32/torch"] = round(at("torch-fp32", "greedy", 1)["server_median"]["model_ms"]
                                                        / max(at("torch", "greedy", 1)["server_median"]["model_ms"], 1e-9), 2)
    if {"torch", "onnx"} <= set(backends) and at("torch", "greedy", 1) and at("onnx", "greedy", 1):
        t_model = at("torch", "greedy", 1)["server_median"]["model_ms"]
        o_model = at("onnx", "greedy", 1)["server_median"]["model_ms"]
        summary["model_ms_c1 torch/onnx"] = round(t_model / max(o_model, 1e-9), 2)
    print()
    for key, value in summary.items():
        print(f"{key}: {value}")
    print(f"(targets: p50 <= {P50_TARGET_MS:g} ms at concurrency 1; throughput at concurrency {top} >= "
          f"{BATCHING_TARGET:g}x concurrency 1)")
    sizes = {b: round(os.path.getsize(sources[b]) / 1e6, 2) for b in backends if b.startswith("onnx")}
    if sizes:
        print("ONNX file sizes (MB): " + ", ".join(f"{b} {mb}" for b, mb in sizes.items()))
    result = {"benchmark": "serve", "clip_seconds": args.clip_seconds, "clip": clip_source, "onnx_mb": sizes,
              "checkpoint": args.checkpoint, "layouts": layouts, "model_replicas": args.replicas,
              "model_num_cpus": args.num_cpus,
              "model_threads": threads, "solo_threads": max(threads, args.solo_threads), "ray_env": ray_env,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2)},
              "rows": rows, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
