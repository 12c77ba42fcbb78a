"""Training throughput: Ray Train against a plain single-process loop, and how workers scale.

Every configuration trains the same model (default: the ``demo`` preset) on the same data for the
same number of steps. Throughput is counted after ``--warmup`` steps, from each run's own step log
(audio seconds trained per wall second, utterances per second). Measured, in one run:

- ``plain 1x1`` / ``plain 1x2``: the training loop in one process, no Ray (``LocalSession``),
  1 or 2 torch threads;
- ``ray 1x1`` / ``ray 1x2``: the same loop as one Ray Train worker with 1 or 2 CPUs/threads;
- ``ray 2x1``: two workers (gloo) of 1 thread each, gradients in one flat all-reduce per step
  (``grad_sync`` auto = flat on CPU), summed in shared memory (``grad_transport`` auto = shm when
  the ranks share a host);
- ``ray 2x1 pinned``: ``ray 2x1`` with each rank (and its loader) pinned to a core of its own
  (``TrainConfig.pin_cpus``; the baseline ``pinned_over_unpinned_2x1`` compares it with is ``ray 2x1``);
- ``ray 1x1 fp32`` / ``ray 2x1 fp32``: with every product in float32 (``TrainConfig.precision`` fp32; the
  others run ``--precision``, default auto: bf16 products on a CPU with native bf16), the baselines of
  ``bf16_over_fp32_1x1`` / ``_2x1``;
- ``ray 2x1 gloo``: the same with the flat buffer all-reduced by gloo over TCP (the baseline for
  ``shm_over_gloo_2x1``);
- ``ray 2x1 ddp``: the same with torch's DistributedDataParallel (the sync before issue 20: the
  baseline for ``flat_over_ddp``);
- ``ray 2x1 before``: DDP, the fused GRU's Python time loop (``DS2RAY_CPP_GRU=0``) and float32 products:
  training as it was before issue 20, the baseline for ``after_over_before_2x1``;
- ``plain 1x1 pyloop``: ``plain 1x1`` with the Python time loop instead of the C++ one
  (:mod:`ds2ray.model.gru_ext`), the baseline for ``cpp_loop_over_python``;
- ``plain 1x1 aten``: ``plain 1x1`` with ATen's GRU instead of the fused CPU GRU
  (:mod:`ds2ray.model.fused_gru`), the baseline for ``fused_gru_over_aten``.

Each configuration also reports who uses the CPU during the measured steps, in cores: the training
ranks, their loader processes, Ray's own processes (raylet, GCS, the driver, controller actors) and
anything else on the machine (:class:`CpuByRole`); on 2 cores, what the loaders and Ray take is
what two ranks cannot have. And it reports where a step's time goes, in ms per step averaged over the
measured steps of rank 0: data (waiting for the loader: audio, augmentation, features), forward,
backward, sync (gradient all-reduce and waiting for the other rank; with DDP the all-reduce overlaps
the backward pass and this is the step statistics' all-reduce), optimizer (clipping + Adam), report
(logging, checkpoints, Ray reports) and other (the rest of the wall time: epoch ends, evaluation).

The machine's speed drifts by 10% and more over minutes (a VM shares its host), so ``--rounds N``
runs the whole list N times, interleaved (A B A B ...), and reports each configuration over all its
rounds (audio seconds over wall seconds) with the per-round figures beside it: a ratio taken from
interleaved rounds compares like with like.

Targets (issues 3 and 20): ray/plain >= 0.90; 2x1 >= 1.8x 1x1 and >= 50 audio-s/s on the whole
machine for demo; 2x1 at least as fast as 1x2. With ``--use-gpu`` it measures one GPU worker (bf16) instead and
reports audio hours per hour per GPU and model FLOP utilisation.

    python bench/train.py [--manifest M] [--steps 14] [--warmup 4] [--out bench/results/train.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

from ds2ray.config import PRECISIONS

os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

CPU_CONFIGS = [  # (name, runner, workers, threads)
    ("plain 1x1", "plain", 1, 1),
    ("ray 1x1", "ray", 1, 1),
    ("plain 1x2", "plain", 1, 2),
    ("ray 1x2", "ray", 1, 2),
    ("ray 2x1", "ray", 2, 1),
    ("ray 2x1 pinned", "ray-pinned", 2, 1),
    ("ray 1x1 fp32", "ray-fp32", 1, 1),
    ("ray 2x1 fp32", "ray-fp32", 2, 1),
    ("ray 2x1 gloo", "ray-gloo", 2, 1),
    ("ray 2x1 ddp", "ray-ddp", 2, 1),
    ("ray 2x1 before", "ray-before", 2, 1),
    ("plain 1x1 pyloop", "plain-pyloop", 1, 1),
    ("plain 1x1 aten", "plain-aten", 1, 1),
]
#: Where a step's time goes (columns ``<phase>_s`` of steps.csv, see ds2ray.train.loop.PHASES).
PHASES = ("data", "forward", "backward", "sync", "optimizer", "report")
#: bf16 dense peak, FLOP/s, for model FLOP utilisation.
GPU_PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}


def corpus(args) -> str:
    if args.manifest:
        return args.manifest
    from ds2ray.data.corpora.synth import SynthConfig, synthesize_corpus

    out = Path(args.cache) / f"synth_{args.utterances}"
    cfg = SynthConfig(num_utterances=args.utterances, hours=None, seed=11)
    return synthesize_corpus(cfg, out, num_workers=os.cpu_count() or 1, progress=False)["train"]


def make_job(args, manifest: str, stats, name: str, workers: int, threads: int, storage: str, grad_sync: str = "auto",
             grad_transport: str = "auto", pin_cpus: bool = False, precision: str | None = None):
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.model.config import get_preset
    from ds2ray.train.config import TrainConfig
    from ds2ray.train.trainer import build_job

    preset = get_preset(args.preset)
    cfg = TrainConfig(train_manifests=(manifest,), epochs=50, max_steps=args.steps, batch_frames=args.batch_frames,
                      num_workers=workers, cpus_per_worker=threads, use_gpu=args.use_gpu,
                      loader_workers=args.loader_workers, storage_path=storage,
                      run_name=name.replace(" ", "_"), log_every_steps=1, sortagrad=False, seed=0,
                      grad_sync=grad_sync, grad_compression=args.grad_compression if grad_sync != "ddp" else "none",
                      grad_transport=grad_transport, pin_cpus=pin_cpus, precision=precision or getattr(args, "precision", "auto"),
                      augment_config=args.augment)
    return build_job(cfg, preset.model, preset.features, Vocabulary.english(), stats)


def throughput(job, warmup: int) -> dict[str, float]:
    path = Path(job.train.storage_path) / job.train.run_name / "logs" / "steps.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) <= warmup:
        raise RuntimeError(f"{path}: only {len(rows)} steps logged, need more than --warmup {warmup}")
    measured = rows[warmup:]
    seconds = float(rows[-1]["elapsed_s"]) - float(rows[warmup - 1]["elapsed_s"]) if warmup else float(rows[-1]["elapsed_s"])
    audio = sum(float(r["window_audio_s"]) for r in measured)
    utts = sum(float(r["window_utterances"]) for r in measured)
    steps = sum(float(r.get("window_steps") or 1) for r in measured)
    breakdown = {p: 1000 * sum(float(r.get(f"{p}_s") or 0.0) for r in measured) / steps for p in PHASES}
    breakdown["other"] = max(0.0, 1000 * seconds / steps - sum(breakdown.values()))
    return {"audio_s_per_s": audio / seconds, "utt_per_s": utts / seconds, "seconds": seconds,
            "steps": len(measured), "audio_s": audio, "ms_per_step": breakdown}


def cpu_times() -> list[int] | None:
    """The aggregate line of /proc/stat (jiffies: user nice system idle iowait irq softirq steal), or None."""
    try:
        with open("/proc/stat") as fh:
            return [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_share(before: list[int] | None, after: list[int] | None) -> float:
    """Fraction of CPU time the hypervisor took from this VM between two :func:`cpu_times` (nan if unknown)."""
    if not before or not after:
        return float("nan")
    delta = [b - a for a, b in zip(before, after)]
    return delta[7] / max(sum(delta), 1)


#: Who uses the CPU while a configuration trains (by the process name in /proc/PID/stat).
CPU_ROLES = ("train", "loader", "ray", "other")


def _role(comm: str, pid: int, own: str) -> str:
    if pid == os.getpid():
        return own  # this process: the plain loop itself, or Ray's driver
    if comm.startswith("ray::RayTrainWo"):
        return "train"  # Ray Train's ranks are RayTrainWorker actors
    if comm == "pt_data_worker":
        return "loader"
    if comm.startswith("ray::") or comm in ("raylet", "gcs_server") or "dashboard" in comm or "ray" in comm.lower():
        return "ray"
    return "other"


class CpuByRole(threading.Thread):
    """CPU time of every process, by role (:data:`CPU_ROLES`), over the measured steps only.

    Polls ``/proc`` every 0.5 s (itself ~1% of a core, counted with this process); the window opens
    when the run's steps.csv holds ``warmup`` steps and closes when it holds them all, so it covers the same steps as the throughput. A process's share
    is its utime + stime over the window (a process that ends inside the window counts up to its last
    poll). Linux only; elsewhere the result is empty. Shown as cores: CPU seconds per wall second.
    """

    def __init__(self, steps_csv: Path, warmup: int, steps: int, own: str) -> None:
        super().__init__(daemon=True)
        self.steps_csv, self.warmup, self.steps, self.own = steps_csv, warmup, steps, own
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.first: dict[int, tuple[str, float]] = {}
        self.last: dict[int, float] = {}
        self.t_open = self.t_close = None
        self._done = threading.Event()

    def _rows(self) -> int:
        try:
            with open(self.steps_csv, "rb") as fh:
                return max(0, fh.read().count(b"\n") - 1)
        except OSError:
            return 0

    def _poll(self) -> dict[int, tuple[str, float]]:
        out = {}
        for d in Path("/proc").glob("[0-9]*"):
            try:
                raw = (d / "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1: raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2:].split()
            out[int(d.name)] = (comm, (int(fields[11]) + int(fields[12])) / self.tick)
        return out

    def _update(self) -> None:
        for pid, (comm, cpu) in self._poll().items():
            self.first.setdefault(pid, (comm, 0.0))  # born inside the window
            self.last[pid] = cpu

    def run(self) -> None:
        while not self._done.is_set() and self.t_close is None:
            rows = self._rows()
            if self.t_open is None and rows >= self.warmup:
                self.t_open = time.perf_counter()
                self.first = self._poll()
            elif self.t_open is not None:
                self._update()
                if rows >= self.steps:
                    self.t_close = time.perf_counter()
            self._done.wait(0.5)

    def stop(self) -> dict[str, float]:
        """Cores used per role over the window ({} if it never opened and closed)."""
        self._done.set()
        self.join(timeout=5)
        if self.t_open is not None and self.t_close is None and self._rows() >= self.steps:
            self._update()  # the run ended between two polls
            self.t_close = time.perf_counter()
        if self.t_open is None or self.t_close is None or self.t_close <= self.t_open:
            return {}
        wall = self.t_close - self.t_open
        cores = dict.fromkeys(CPU_ROLES, 0.0)
        for pid, cpu in self.last.items():
            comm, start = self.first[pid]
            cores[_role(comm, pid, self.own)] += max(0.0, cpu - start) / wall
        return cores


def run_config(args, manifest, stats, name, runner, workers, threads, storage, round_no: int = 0) -> dict:
    from ds2ray.train.loop import run_training
    from ds2ray.train.session import LocalSession
    from ds2ray.train.trainer import run_train

    from ds2ray.model import fused_gru, rnn

    job = make_job(args, manifest, stats, f"{name} r{round_no}", workers, threads, storage,
                   grad_sync="ddp" if runner in ("ray-ddp", "ray-before") else args.grad_sync,
                   grad_transport="group" if runner == "ray-gloo" else "auto", pin_cpus=runner == "ray-pinned",
                   precision="fp32" if runner in ("ray-fp32", "ray-before") else None)
    t0, stat0 = time.perf_counter(), cpu_times()
    sampler = CpuByRole(Path(job.train.storage_path) / job.train.run_name / "logs" / "steps.csv", args.warmup,
                        args.steps, own="train" if runner.startswith("plain") else "ray")
    sampler.start()
    if runner.startswith("plain"):
        import torch

        rnn.FUSED_CPU_GRU = runner != "plain-aten"
        fused_gru.USE_CPP = runner != "plain-pyloop"
        try:
            run_training(job, LocalSession(None, device="cuda" if args.use_gpu else "cpu"))
        finally:
            rnn.FUSED_CPU_GRU = True
            fused_gru.USE_CPP = True
        torch.set_num_threads(os.cpu_count() or 1)
    else:
        os.environ["DS2RAY_CPP_GRU"] = "0" if runner == "ray-before" else "1"  # forwarded to the workers
        try:
            result = run_train(job)
        finally:
            os.environ.pop("DS2RAY_CPP_GRU", None)
        if result.error is not None:
            raise RuntimeError(f"{name}: {result.error}")
    cores = sampler.stop()
    out = {"name": name, "round": round_no, "runner": runner, "workers": workers, "threads": threads,
           "wall_s_total": time.perf_counter() - t0, "cpu_steal": steal_share(stat0, cpu_times()),
           "cpu_cores": cores, **throughput(job, args.warmup)}
    print(f"  {name:10s} {out['audio_s_per_s']:7.1f} audio-s/s {out['utt_per_s']:6.2f} utt/s "
          f"({out['steps']} steps in {out['seconds']:.1f} s; whole run {out['wall_s_total']:.0f} s; "
          f"CPU steal {out['cpu_steal']:.0%})", flush=True)
    return out


def combine_rounds(runs: list[dict]) -> dict:
    """One configuration over its rounds: audio and utterances over wall seconds of all of them,
    ms per step weighted by steps, and each round's audio-s/s in ``rounds``."""
    if len(runs) == 1:
        return {**runs[0], "rounds": [runs[0]["audio_s_per_s"]]}
    seconds = sum(r["seconds"] for r in runs)
    steps = sum(r["steps"] for r in runs)
    phases = runs[0]["ms_per_step"].keys()
    return {**runs[0], "round": None, "seconds": seconds, "steps": steps,
            "audio_s": sum(r["audio_s"] for r in runs),
            "audio_s_per_s": sum(r["audio_s"] for r in runs) / seconds,
            "utt_per_s": sum(r["utt_per_s"] * r["seconds"] for r in runs) / seconds,
            "wall_s_total": sum(r["wall_s_total"] for r in runs),
            "cpu_steal": sum(r["cpu_steal"] * r["seconds"] for r in runs) / seconds,
            "ms_per_step": {p: sum(r["ms_per_step"][p] * r["steps"] for r in runs) / steps for p in phases},
            "cpu_cores": {k: sum(r["cpu_cores"].get(k, 0.0) * r["seconds"] for r in runs) / seconds
                          for k in CPU_ROLES} if all(r.get("cpu_cores") for r in runs) else {},
            "rounds": [r["audio_s_per_s"] for r in runs]}


def model_flops_per_audio_second(preset_name: str) -> float:
    """Training FLOPs (forward x 3) per second of audio: convs, RNN matmuls, FC."""
    from ds2ray.model.config import get_preset
    from ds2ray.model.lengths import layer_lengths, output_features

    cfg = get_preset(preset_name).model
    frames = 100  # 1 s at a 10 ms hop
    flops = 0.0
    rows, cin = cfg.num_features, 1
    from ds2ray.model.lengths import conv_out_size

    for (kf, kt), (sf, st), (pf, pt), cout, t in zip(cfg.conv_kernels, cfg.conv_strides, cfg.paddings,
                                                     cfg.conv_channels, layer_lengths(cfg, frames)):
        rows = conv_out_size(rows, kf, sf, pf)
        flops += 2 * cin * cout * kf * kt * rows * t
        cin = cout
    t_out = layer_lengths(cfg, frames)[-1]
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[cfg.rnn_type]
    dirs = 2 if cfg.bidirectional else 1
    inp = cin * output_features(cfg)
    for _ in range(cfg.rnn_layers):
        flops += dirs * 2 * gates * cfg.rnn_hidden * (inp + cfg.rnn_hidden) * t_out
        inp = dirs * cfg.rnn_hidden
    flops += 2 * inp * cfg.num_classes * t_out
    return 3 * flops


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", default=None, help="training manifest (default: a synthetic espeak-ng corpus)")
    p.add_argument("--utterances", type=int, default=160, help="size of the synthetic corpus")
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/ds2ray/bench"), help="where the corpus is kept")
    p.add_argument("--preset", default="demo", help="model preset (default demo: the reference small config)")
    p.add_argument("--steps", type=int, default=40, help="optimizer steps per configuration (40: two runs agree within ~5%% on an idle machine)")
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the measurement")
    p.add_argument("--batch-frames", type=int, default=2000, help="padded frames per batch and worker (demo: 2000)")
    p.add_argument("--loader-workers", type=int, default=1, help="DataLoader processes per worker")
    p.add_argument("--only", default=None, help="comma-separated configuration names to run (default all)")
    p.add_argument("--grad-sync", default="auto", choices=("auto", "flat", "ddp"),
                   help="gradient sync of the ray rows (the 'ddp' row always uses DDP)")
    p.add_argument("--grad-compression", default="none", choices=("none", "bf16", "fp16"),
                   help="half-width gradients in flat sync (not numerically neutral)")
    p.add_argument("--augment", default=None,
                   help="augmentation JSON for the training data (default none: the demo's VTLP costs ~nothing)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="TrainConfig.precision of every configuration but the fp32 ones and 'before' (default auto)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run the configurations this many times, interleaved, and combine (cancels the VM's drift)")
    p.add_argument("--use-gpu", action="store_true", help="measure one GPU worker (bf16) instead of the CPU grid")
    p.add_argument("--out", default="bench/results/train.json", help="JSON results")
    args = p.parse_args()

    import ray
    import torch

    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.normalizer import compute_mean_std
    from ds2ray.model.config import get_preset

    manifest = corpus(args)
    entries = read_manifest([manifest]).entries
    stats = compute_mean_std(entries, get_preset(args.preset).features, num_samples=100, num_workers=1,
                             progress=False)
    from ds2ray.raycluster import connect

    connect(os.cpu_count(), num_gpus=1 if args.use_gpu else 0, include_dashboard=False, log_to_driver=False,
            env={"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"]})
    configs = [("ray 1xGPU", "ray", 1, 4), ("plain 1xGPU", "plain", 1, 4)] if args.use_gpu else CPU_CONFIGS
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        configs = [c for c in configs if c[0] in wanted]
    print(f"{args.preset} preset, {len(entries)} utterances, {args.steps} steps ({args.warmup} warmup), "
          f"batch {args.batch_frames} frames, {os.cpu_count()} CPUs, {args.rounds} round(s)", flush=True)
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as storage:
        for round_no in range(args.rounds):
            for name, runner, workers, threads in configs:
                runs.setdefault(name, []).append(
                    run_config(args, manifest, stats, name, runner, workers, threads, storage, round_no))
    ray.shutdown()
    results = [combine_rounds(r) for r in runs.values()]
    by = {r["name"]: r["audio_s_per_s"] for r in results}
    summary: dict[str, float] = {}

    def ratio(key, a, b):
        if a in by and b in by:
            summary[key] = by[a] / by[b]

    ratio("ray_over_plain_1x1", "ray 1x1", "plain 1x1")
    ratio("ray_over_plain_1x2", "ray 1x2", "plain 1x2")
    ratio("ray_2x1_over_1x1", "ray 2x1", "ray 1x1")
    ratio("pinned_over_unpinned_2x1", "ray 2x1 pinned", "ray 2x1")
    ratio("bf16_over_fp32_1x1", "ray 1x1", "ray 1x1 fp32")
    ratio("bf16_over_fp32_2x1", "ray 2x1", "ray 2x1 fp32")
    ratio("ray_2x1_pinned_over_1x1", "ray 2x1 pinned", "ray 1x1")
    ratio("ray_2x1_over_1x2", "ray 2x1", "ray 1x2")
    ratio("flat_over_ddp_2x1", "ray 2x1", "ray 2x1 ddp")
    ratio("shm_over_gloo_2x1", "ray 2x1", "ray 2x1 gloo")
    ratio("after_over_before_2x1", "ray 2x1", "ray 2x1 before")
    ratio("cpp_loop_over_python", "plain 1x1", "plain 1x1 pyloop")
    ratio("ray_over_plain_gpu", "ray 1xGPU", "plain 1xGPU")
    ratio("fused_gru_over_aten", "plain 1x1", "plain 1x1 aten")
    if args.use_gpu and "ray 1xGPU" in by:
        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in GPU_PEAK_FLOPS.items() if k in name), None)
        summary["audio_hours_per_hour_per_gpu"] = by["ray 1xGPU"]
        if peak:
            summary["mfu"] = by["ray 1xGPU"] * model_flops_per_audio_second(args.preset) / peak
    targets = {"ray_over_plain_1x1": 0.90, "ray_over_plain_1x2": 0.90, "ray_2x1_over_1x1": 1.8,
               "ray_2x1_over_1x2": 1.0}
    print("\n| configuration | audio-s/s | per round | utt/s | steps | seconds | CPU steal |\n|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['audio_s_per_s']:.1f} | {' / '.join(f'{v:.1f}' for v in r['rounds'])} "
              f"| {r['utt_per_s']:.2f} | {r['steps']} | {r['seconds']:.1f} | {r['cpu_steal']:.0%} |")
    if args.rounds > 1 and "ray 2x1" in runs and "ray 1x1" in runs:
        per_round = [a["audio_s_per_s"] / b["audio_s_per_s"] for a, b in zip(runs["ray 2x1"], runs["ray 1x1"])]
        summary["ray_2x1_over_1x1_min_round"] = min(per_round)
        summary["ray_2x1_over_1x1_max_round"] = max(per_round)
    print("\nWhere a step's time goes (ms per step, rank 0, mean over the measured steps):\n")
    print("| configuration | " + " | ".join(PHASES) + " | other | step |\n|---|" + "---|" * (len(PHASES) + 2))
    for r in results:
        ms = r["ms_per_step"]
        print(f"| {r['name']} | " + " | ".join(f"{ms[p]:.0f}" for p in (*PHASES, "other"))
              + f" | {sum(ms.values()):.0f} |")
    if any(r.get("cpu_cores") for r in results):
        print("\nWho uses the CPU during the measured steps (cores: CPU seconds per wall second, "
              f"of {os.cpu_count()}):\n")
        print("| configuration | " + " | ".join(CPU_ROLES) + " | total |\n|---|" + "---|" * (len(CPU_ROLES) + 1))
        for r in results:
            c = r.get("cpu_cores") or {}
            if c:
                print(f"| {r['name']} | " + " | ".join(f"{c[k]:.2f}" for k in CPU_ROLES) + f" | {sum(c.values()):.2f} |")
    print("\n| ratio | value | target |\n|---|---|---|")
    for k, v in summary.items():
        t = targets.get(k)
        print(f"| {k} | {v:.3g} | {'>= ' + str(t) if t else '-'} |")
    best = max(by.values()) if by else 0.0
    print(f"\nbest whole-machine throughput: {best:.1f} audio-s/s (target >= 50 for demo on CPU)")
    out = {"preset": args.preset, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
           "batch_frames": args.batch_frames,
           "cpus": os.cpu_count(), "machine": platform.node(), "load_avg": os.getloadavg(),
           "flops_per_audio_s": model_flops_per_audio_second(args.preset), "results": results, "summary": summary,
           "runs": [r for rs in runs.values() for r in rs]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
