"""GPU check: every GPU code path of ds2ray measured in one run of at most 8 minutes on one GPU.

Written before any GPU was lent to this project, to be run the day one is (``make gpu-check``).
Each part has its own time budget; a part that fails or runs over its budget is recorded (the
traceback's last line) and the next one runs. Parts:

- ``train_demo``, ``train_seed``: the real training loop (:func:`ds2ray.train.loop.run_training`,
  ``LocalSession(device="cuda")``: bf16 autocast) on one GPU; audio-s/s (= audio hours per hour),
  model TFLOP/s from the analytic training FLOPs per audio second and model FLOP utilisation
  against the GPU's bf16 dense peak (``bench/train.py``'s table; unknown GPU: no MFU). Goal: MFU
  >= 30%. The phase breakdown (ms per step in data, forward, backward, ...) says whether the data
  loader or the GPU bounds it.
- ``profile``: ``ds2ray profile --use-gpu`` (:func:`ds2ray.profile.run_profile`: Ray Train, NCCL,
  one GPU per worker) on 1, 2, 4, ... up to every visible GPU; scaling efficiency at the largest
  K. Goal >= 90%. With one GPU only K=1 runs: the Ray Train path is measured, scaling is not.
- ``features``: :class:`~ds2ray.data.features.FeatureExtractor` on a batch of clips on the GPU
  against the CPU (all cores), in multiples of real time, for the demo's fbank and the seed's
  linear spectrogram (the host-to-device copy is inside the GPU's time).
- ``test``: :func:`ds2ray.evaluate.compute_log_probs` with ``use_gpu``, in this process
  (throughput of a warm call, and the p50 latency of a one-clip call, checkpoint load included)
  and on one Ray actor (what ``ds2ray test --use-gpu`` runs).
- ``serve``: ``ds2ray serve --use-gpu`` started as the real command (joining this script's Ray),
  p50/p99 latency of ~20 sequential POSTs of a 5 s WAV over 127.0.0.1, greedy decoding.

Everything runs on a self-contained corpus of speech-like clips with real sentences as text
(:func:`ds2ray.profile.synthesize_manifest`); checkpoints for ``test`` and ``serve`` are untrained
(latency does not depend on the weights). Nothing is downloaded.

Without a CUDA device (or with ``--dry-run``) the same code runs on the CPU with tiny sizes (the
``tiny`` preset, float32: the loop autocasts to bf16 on CUDA only; a train part runs exactly its 4 steps,
with no time cap inside the loop) as a dry run that checks the script, not the speed; the table says so.

    python bench/gpu_check.py [--dry-run] [--parts train_demo,serve] [--out bench/results/gpu_check.json]

Run it as a script: it imports ``bench/train.py`` (as ``train``) from its own folder.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

import train as bench_train  # bench/train.py: this script's folder is sys.path[0]

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("train_demo", "train_seed", "features", "test", "profile", "serve")
GOAL_MFU = 0.30
GOAL_SCALING = 0.90


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each part is: ``GPU`` for the real check, ``DRY`` for the CPU dry run."""

    train_presets: dict[str, str]  # part -> model preset
    train_steps: int  # the step cap of a train part
    train_warmup: int
    train_time_cap: bool  # also stop a train part on time (its budget - 30 s); False: the step cap alone ends it
    train_batch_frames: dict[str, int]  # preset -> padded frames per step
    loader_workers: int
    train_threads: int
    corpus_clips: int  # distinct 6-7 s clips
    feature_batch: int
    feature_clip_s: float
    feature_reps: int
    test_clips: int
    latency_calls: int
    profile_steps: int
    profile_warmup: int
    profile_batch: int
    profile_preset: str
    serve_requests: int
    budgets_s: dict[str, float]  # part -> seconds
    total_s: float


GPU = Sizes(
    train_presets={"train_demo": "demo", "train_seed": "seed"}, train_steps=60, train_warmup=5, train_time_cap=True,
    train_batch_frames={"demo": 48000, "seed": 32000}, loader_workers=max(1, min(12, (os.cpu_count() or 4) - 3)),
    train_threads=2, corpus_clips=48, feature_batch=64, feature_clip_s=10.0, feature_reps=10, test_clips=64,
    latency_calls=5, profile_steps=14, profile_warmup=4, profile_batch=32, profile_preset="demo", serve_requests=20,
    budgets_s={"train_demo": 70, "train_seed": 90, "features": 25, "test": 50, "profile": 110, "serve": 75},
    total_s=450)
DRY = Sizes(
    train_presets={"train_demo": "tiny", "train_seed": "tiny"}, train_steps=4, train_warmup=1, train_time_cap=False,
    train_batch_frames={"tiny": 1400}, loader_workers=0, train_threads=1, corpus_clips=4, feature_batch=4,
    feature_clip_s=2.0, feature_reps=2, test_clips=4, latency_calls=2, profile_steps=4, profile_warmup=1,
    profile_batch=2, profile_preset="tiny", serve_requests=5,
    # the train parts run their 4 steps however loaded the machine (a time cap of (budget - 30 s) stopped
    # them short on a loaded 2-core machine); their budget is only the hard limit of a hung part
    budgets_s={"train_demo": 120, "train_seed": 120, "features": 20, "test": 60, "profile": 90, "serve": 90},
    total_s=200)  # a slow machine skips the last parts (recorded) rather than running long


class PartTimeout(Exception):
    """A part ran past its budget."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str):
    """Raise :class:`PartTimeout` in this (main) thread after ``seconds``."""
    def handler(signum, frame):
        raise PartTimeout(f"{what}: still running after its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Check:
    """Shared state of one run: device, sizes, corpus, checkpoint, the Ray connection."""

    def __init__(self, dry_run: bool, work: Path, out: str) -> None:
        import torch

        self.dry_run = dry_run
        self.sizes = DRY if dry_run else GPU
        self.device = "cpu" if dry_run else "cuda"
        self.gpus = 0 if dry_run else torch.cuda.device_count()
        self.gpu_name = None if dry_run else torch.cuda.get_device_name(0)
        self.peak = None if dry_run else next((v for k, v in bench_train.GPU_PEAK_FLOPS.items()
                                              if k in self.gpu_name), None)
        self.work = work
        self.out = out  # the JSON's path: the profile's PNG goes beside it
        self._corpus: tuple[str, list] | None = None
        self._checkpoint: str | None = None
        self.ray_started = False
        self.ray_error: str | None = None  # why Ray did not start, once it did not

    def corpus(self) -> tuple[str, list]:
        """(manifest, entries): ``corpus_clips`` speech-like 6-7 s clips with sentences as text."""
        if self._corpus is None:
            from ds2ray.profile import ProfileConfig, select_utterances, synthesize_manifest

            cfg = ProfileConfig(distinct_utterances=self.sizes.corpus_clips, seed=7)
            manifest = str(synthesize_manifest(cfg, self.work / "corpus"))
            self._corpus = manifest, select_utterances(manifest, cfg)
        return self._corpus

    def checkpoint(self) -> str:
        """An untrained checkpoint of the profile preset (identity normaliser) for test and serve."""
        if self._checkpoint is None:
            from ds2ray.testing.checkpoints import make_untrained_checkpoint

            self._checkpoint = make_untrained_checkpoint(str(self.work / "checkpoint"),
                                                         preset=self.sizes.profile_preset)
        return self._checkpoint

    def ray(self) -> None:
        """Start one local Ray for every Ray part (or join ``RAY_ADDRESS``). If it does not start, the
        later Ray parts fail at once with the same reason instead of each waiting for it again."""
        import ray

        if self.ray_error is not None:
            raise RuntimeError(f"no Ray: it did not start in an earlier part ({self.ray_error})")
        if self.ray_started and ray.is_initialized():
            return
        self.ray_started = True
        from ds2ray.raycluster import connect
        from ds2ray.train.trainer import TRAIN_RAY_ENV

        try:
            connect(os.cpu_count(), num_gpus=self.gpus, include_dashboard=False, log_to_driver=False,
                    env=TRAIN_RAY_ENV)
        except BaseException as err:  # PartTimeout included: the part's budget ran out while Ray started
            self.ray_error = traceback.format_exception_only(type(err), err)[-1].strip()
            with contextlib.suppress(Exception):
                ray.shutdown()  # what it had started of its processes
            raise

    def sync(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()


# --- parts ------------------------------------------------------------------------------------------
def part_train(check: Check, part: str, budget_s: float) -> dict[str, Any]:
    """Steps of the plain training loop (one process, no Ray) on one device: throughput and MFU."""
    import torch

    from ds2ray.data.manifest import write_manifest
    from ds2ray.data.normalizer import compute_mean_std
    from ds2ray.model.config import get_preset
    from ds2ray.train.loop import run_training
    from ds2ray.train.session import LocalSession

    s = check.sizes
    preset = s.train_presets[part]
    _, entries = check.corpus()
    steps_clips = s.train_steps * max(1, s.train_batch_frames[preset] // 650) + len(entries)
    repeated = check.work / f"{part}.jsonl"  # one epoch holds every step: no epoch-end checkpoint inside
    write_manifest(repeated, [entries[i % len(entries)] for i in range(steps_clips)], relative=False)
    stats = compute_mean_std(entries, get_preset(preset).features, num_samples=16, num_workers=1, progress=False)
    args = argparse.Namespace(preset=preset, steps=s.train_steps, warmup=s.train_warmup,
                              batch_frames=s.train_batch_frames[preset], use_gpu=check.device == "cuda",
                              loader_workers=s.loader_workers, grad_compression="none", augment=None)
    job = bench_train.make_job(args, str(repeated), stats, f"gpu_check {part}", 1, s.train_threads,
                               str(check.work / "runs"))
    if s.train_time_cap:  # stop on steps or on time, whichever comes first (setup, first kernels, checkpoint aside)
        job = dataclasses.replace(job, train=job.train.replace(max_minutes=max(0.2, (budget_s - 30) / 60)))
    try:
        metrics = run_training(job, LocalSession(None, device=check.device))
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    stopped = str(metrics.get("stopped") or "the plan ended")
    out = bench_train.throughput(job, s.train_warmup)
    ran = out["steps"] + s.train_warmup
    if not s.train_time_cap and ran != s.train_steps:
        raise RuntimeError(f"{part}: ran {ran} of its {s.train_steps} steps ({stopped})")
    out["stopped"] = stopped  # "max_steps N reached", or the time budget on a slow GPU run
    flops = bench_train.model_flops_per_audio_second(preset)
    out.update(preset=preset, precision="bf16 autocast" if check.device == "cuda" else "float32",
               batch_frames=s.train_batch_frames[preset], loader_workers=s.loader_workers,
               flops_per_audio_s=flops, audio_hours_per_hour=out["audio_s_per_s"],
               model_tflops_per_s=out["audio_s_per_s"] * flops / 1e12,
               mfu=out["audio_s_per_s"] * flops / check.peak if check.peak else None)
    return out


def part_features(check: Check, budget_s: float) -> dict[str, Any]:
    """FeatureExtractor on a batch of clips: the device against the CPU, x real time."""
    import torch

    from ds2ray.data.features import FeatureExtractor
    from ds2ray.model.config import get_preset
    from ds2ray.testing.signals import speechlike

    s = check.sizes
    waves = torch.from_numpy(np.stack([speechlike(s.feature_clip_s, seed=i) for i in range(s.feature_batch)]))
    audio_s = s.feature_batch * s.feature_clip_s
    out: dict[str, Any] = {"batch": s.feature_batch, "clip_s": s.feature_clip_s, "reps": s.feature_reps,
                           "cpu_threads": torch.get_num_threads()}
    for preset in ("demo", "seed"):
        cfg = get_preset(preset).features
        row = {}
        for label, device in (("device", check.device), ("cpu", "cpu")):
            extractor = FeatureExtractor(cfg).to(device)
            with torch.no_grad():
                extractor(waves.to(device))  # warm-up: kernels, FFT plans
                check.sync()
                t0 = time.perf_counter()
                for _ in range(s.feature_reps):
                    feats = extractor(waves.to(device, non_blocking=True))
                    feats.sum().item()  # the features are ready (and one scalar comes back)
                wall = time.perf_counter() - t0
            row[f"{label}_x_real_time"] = audio_s * s.feature_reps / wall
        row["speedup"] = row["device_x_real_time"] / row["cpu_x_real_time"]
        out[cfg.kind] = row
    return out


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def part_test(check: Check, budget_s: float) -> dict[str, Any]:
    """compute_log_probs with use_gpu: in this process and on one Ray actor."""
    from ds2ray.evaluate import compute_log_probs

    s = check.sizes
    use_gpu = check.device == "cuda"
    _, entries = check.corpus()
    entries = [entries[i % len(entries)] for i in range(s.test_clips)]
    audio_s = sum(e.duration for e in entries)
    ckpt = check.checkpoint()
    compute_log_probs(ckpt, entries, num_workers=0, use_gpu=use_gpu, progress=False)  # warm-up
    t0 = time.perf_counter()
    compute_log_probs(ckpt, entries, num_workers=0, use_gpu=use_gpu, progress=False)
    warm = time.perf_counter() - t0
    latencies = []
    for _ in range(s.latency_calls):
        t0 = time.perf_counter()
        compute_log_probs(ckpt, entries[:1], num_workers=0, use_gpu=use_gpu, progress=False)
        latencies.append(1000 * (time.perf_counter() - t0))
    out: dict[str, Any] = {"utterances": len(entries), "audio_s": audio_s, "in_process_s": warm,
                           "in_process_x_real_time": audio_s / warm, "one_clip_s": entries[0].duration,
                           "one_clip_p50_ms": _p(latencies, 50), "one_clip_ms": latencies}
    check.ray()
    t0 = time.perf_counter()
    compute_log_probs(ckpt, entries, num_workers=1, use_gpu=use_gpu, progress=False)
    ray_s = time.perf_counter() - t0
    out.update(ray_1_actor_s=ray_s, ray_1_actor_x_real_time=audio_s / ray_s)
    return out


def part_profile(check: Check, budget_s: float) -> dict[str, Any]:
    """ds2ray profile (--use-gpu) over 1, 2, 4, ... workers up to every visible GPU."""
    import shutil

    from ds2ray.profile import ProfileConfig, run_profile

    s = check.sizes
    most = check.gpus if check.device == "cuda" else 1
    workers = sorted({k for k in (1, 2, 4, 8, 16, 32) if k <= most} | {most})
    manifest, _ = check.corpus()
    cfg = ProfileConfig(workers=tuple(workers), steps=s.profile_steps, warmup_steps=s.profile_warmup,
                        batch_size=s.profile_batch, preset=s.profile_preset, use_gpu=check.device == "cuda",
                        loader_workers=2 if check.device == "cuda" else 0, manifest=manifest)
    check.ray()
    report = run_profile(cfg, check.work / "profile")
    png = Path(check.out).with_name("gpu_check_profile.png")
    png.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(check.work / "profile" / "profile.png", png)
    points = [dataclasses.asdict(p) for p in report.points]
    failed = [p for p in report.points if p.status != "ok"]
    if failed:
        raise RuntimeError(f"profile K={failed[0].workers}: {failed[0].status}")
    scaled = [p for p in report.points if p.workers > 1]
    return {"preset": cfg.preset, "batch_per_worker": cfg.batch_size, "steps": cfg.steps, "workers": workers,
            "points": points, "png": str(png),
            "scaling_efficiency": min(p.efficiency for p in scaled) if scaled else None,
            "largest_k": max(workers)}


def clip_wav(seconds: float, rate: int = 16000) -> bytes:
    import io

    import soundfile as sf

    from ds2ray.testing.signals import speechlike

    buf = io.BytesIO()
    sf.write(buf, speechlike(seconds, rate, seed=3), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def part_serve(check: Check, budget_s: float) -> dict[str, Any]:
    """`ds2ray serve [--use-gpu]` as a child process on this script's Ray; sequential POSTs of a 5 s clip."""
    import ray
    import requests

    s = check.sizes
    check.ray()
    data = clip_wav(5.0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ds2ray.cli", "serve", "--checkpoint", check.checkpoint(), "--decoder", "greedy",
           "--host", "127.0.0.1", "--port", str(port), "--api-key-env", "",
           "--address", ray.get_runtime_context().gcs_address]
    if check.device == "cuda":
        cmd.append("--use-gpu")
    log_path = check.work / "serve.log"
    t0 = time.perf_counter()
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            while True:  # until /healthz answers (the replica has loaded the model and run its warm-up)
                if proc.poll() is not None:
                    raise RuntimeError(f"ds2ray serve exited with {proc.returncode}: {_tail(log_path)}")
                try:
                    if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.25)
            ready_s = time.perf_counter() - t0
            session = requests.Session()
            latencies, model_ms = [], []
            for i in range(s.serve_requests + 2):  # the first two warm the connection and the replica
                t1 = time.perf_counter()
                r = session.post(f"{url}/transcribe", data=data, headers={"Content-Type": "audio/wav"}, timeout=60)
                ms = 1000 * (time.perf_counter() - t1)
                if r.status_code != 200:
                    raise RuntimeError(f"POST /transcribe: HTTP {r.status_code}: {r.text[:200]}")
                if i >= 2:
                    latencies.append(ms)
                    model_ms.append(r.json()["timing"]["model_ms"])
            device = requests.get(f"{url}/healthz", timeout=5).json()["model"]["device"]
        finally:
            proc.send_signal(signal.SIGTERM)  # the command takes its app down and leaves
            try:
                proc.wait(timeout=15)  # past the part's budget: the Ray shutdown at the end takes the app too
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"clip_s": 5.0, "requests": len(latencies), "replica_device": device, "startup_s": ready_s,
            "p50_ms": _p(latencies, 50), "p99_ms": _p(latencies, 99), "model_p50_ms": _p(model_ms, 50),
            "command": " ".join(cmd[2:])}


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


# --- the run ----------------------------------------------------------------------------------------
def run_part(check: Check, name: str, fn: Callable[[float], dict[str, Any]], deadline: float) -> dict[str, Any]:
    """Run one part within its budget (and what is left of the total); never raises."""
    import torch

    budget = check.sizes.budgets_s[name]
    left = deadline - time.monotonic()
    if left < min(budget, 15):
        return {"status": "skipped", "error": f"not started: {left:.0f} s left of the total budget", "seconds": 0.0,
                "budget_s": budget}
    budget = min(budget, left)
    print(f"== {name} (budget {budget:.0f} s)", flush=True)
    t0 = time.monotonic()
    try:
        with time_limit(budget, name):
            result = fn(budget)
        record = {"status": "ok", **result}
    except Exception as err:  # a part must not stop the others: keep its last line, print the rest
        traceback.print_exc()
        record = {"status": "failed", "error": traceback.format_exception_only(type(err), err)[-1].strip()}
    record.update(seconds=time.monotonic() - t0, budget_s=budget)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(f"   {name}: {record['status']} in {record['seconds']:.0f} s"
          + (f" ({record['error']})" if record.get("error") else ""), flush=True)
    return record


def _raise(err: Exception):
    raise err


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def table(out: dict[str, Any]) -> str:
    """The markdown table: one or more rows per part, its goal, and whether it was met."""
    parts = out["parts"]
    rows = []

    def failed(name: str, what: str) -> bool:
        rec = parts.get(name)
        if rec is None:
            return True
        if rec["status"] != "ok":
            rows.append((name, what, f"{rec['status']}: {rec['error']}", "", ""))
            return True
        return False

    for name in ("train_demo", "train_seed"):
        if failed(name, "training loop, 1 device"):
            continue
        r = parts[name]
        ms = r["ms_per_step"]
        data_share = ms["data"] / max(sum(ms.values()), 1e-9)
        met = "-" if r["mfu"] is None else ("met" if r["mfu"] >= GOAL_MFU else "missed")
        stopped = r.get("stopped", "")  # on time, not on the step cap: say so
        short = "" if stopped.startswith("max_steps") else f"; {stopped} after {r['steps']} measured steps"
        rows.append((name, f"{r['preset']} preset, plain loop, {r['precision']}, {r['batch_frames']} frames/step",
                     f"{r['audio_s_per_s']:.1f} audio-s/s (= audio h/h), {r['model_tflops_per_s']:.3g} TFLOP/s, "
                     f"MFU {_pct(r['mfu'])}; data wait {data_share:.0%} of a step{short}",
                     f"MFU >= {GOAL_MFU:.0%}", met))
    if not failed("profile", "ds2ray profile"):
        r = parts["profile"]
        pts = ", ".join(f"K={p['workers']} {p['audio_s_per_s']:.1f}" for p in r["points"])
        eff = r["scaling_efficiency"]
        rows.append(("profile", f"ds2ray profile{' --use-gpu' if out['device'] == 'cuda' else ''}, {r['preset']}, "
                                f"{r['batch_per_worker']} utt/worker",
                     f"audio-s/s {pts}; efficiency at K={r['largest_k']}: "
                     + (_pct(eff) if eff is not None else "n/a (one worker)"),
                     f">= {GOAL_SCALING:.0%}", "-" if eff is None else ("met" if eff >= GOAL_SCALING else "missed")))
    if not failed("features", "FeatureExtractor batched"):
        r = parts["features"]
        for kind in ("fbank", "linear"):
            k = r[kind]
            rows.append((f"features {kind}", f"{r['batch']} x {r['clip_s']:g} s clips, {out['device']} vs CPU",
                         f"{k['device_x_real_time']:.0f}x vs {k['cpu_x_real_time']:.0f}x real time "
                         f"({k['speedup']:.2f}x)", "-", "-"))
    if not failed("test", "compute_log_probs"):
        r = parts["test"]
        rows.append(("test", f"compute_log_probs, {r['utterances']} utterances",
                     f"in process {r['in_process_x_real_time']:.0f}x real time; 1 Ray actor "
                     f"{r['ray_1_actor_x_real_time']:.0f}x (actor start included); one {r['one_clip_s']:.1f} s clip "
                     f"p50 {r['one_clip_p50_ms']:.0f} ms (checkpoint load included)", "-", "-"))
    if not failed("serve", "ds2ray serve"):
        r = parts["serve"]
        rows.append(("serve", f"ds2ray serve{' --use-gpu' if out['device'] == 'cuda' else ''}, "
                              f"replica on {r['replica_device']}",
                     f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms over {r['requests']} POSTs of "
                     f"{r['clip_s']:g} s (model {r['model_p50_ms']:.0f} ms); ready after {r['startup_s']:.0f} s",
                     "-", "-"))
    lines = ["| part | what | measured | goal | |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true",
                   help="run on the CPU with tiny sizes (the default when no CUDA device is visible)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated parts to run (default {','.join(PARTS)})")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu_check.json"), help="JSON results")
    p.add_argument("--fail", default=None, metavar="PART",
                   help="make PART raise at its start (tests: a failing part is recorded, the others still run)")
    args = p.parse_args()
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = sorted(set(parts + ([args.fail] if args.fail else [])) - set(PARTS))
    if unknown:
        p.error(f"--parts: unknown part(s) {unknown}; choose from {', '.join(PARTS)}")

    import torch

    dry_run = args.dry_run or not torch.cuda.is_available()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as work:
        check = Check(dry_run, Path(work), args.out)
        deadline = start + check.sizes.total_s
        why = "--dry-run" if args.dry_run else "no CUDA device visible"
        print(f"gpu check: {'CPU DRY RUN (' + why + ')' if dry_run else check.gpu_name}, "
              f"{check.gpus} GPU(s), {os.cpu_count()} CPUs, total budget {check.sizes.total_s:.0f} s", flush=True)
        runners = {"train_demo": lambda b: part_train(check, "train_demo", b),
                   "train_seed": lambda b: part_train(check, "train_seed", b),
                   "features": lambda b: part_features(check, b), "test": lambda b: part_test(check, b),
                   "profile": lambda b: part_profile(check, b), "serve": lambda b: part_serve(check, b)}
        if args.fail:
            runners[args.fail] = lambda b: _raise(RuntimeError(f"--fail {args.fail}: this part fails on purpose"))
        results = {name: run_part(check, name, runners[name], deadline) for name in parts}
        if check.ray_started:
            import ray

            ray.shutdown()
    out = {"dry_run": dry_run, "device": check.device, "gpu": check.gpu_name, "gpus": check.gpus,
           "peak_bf16_flops": check.peak, "goals": {"mfu": GOAL_MFU, "scaling_efficiency": GOAL_SCALING},
           "machine": {"host": platform.node(), "cpus": os.cpu_count(), "torch": torch.__version__,
                       "python": platform.python_version()},
           "total_s": time.monotonic() - start, "parts": results}
    print()
    if dry_run:
        print(f"**CPU dry run** ({why}): the GPU code paths with tiny sizes on the CPU, float32; it checks the "
              "script, not the speed.\n")
    else:
        print(f"**{check.gpu_name}** x {check.gpus}, bf16 dense peak "
              + (f"{check.peak / 1e12:.0f} TFLOP/s" if check.peak else "unknown (no MFU)") + "\n")
    print(table(out))
    print(f"\n{sum(r['status'] == 'ok' for r in results.values())}/{len(results)} parts ok in {out['total_s']:.0f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
