"""Scaling profile: the same training on K = 1, 2, 4, ... workers, throughput and speedup per K.

Like the seed's ``tools/profile.sh`` (its multi-GPU table: 1.97x at 2 GPUs, 3.74x at 4), every
run trains on utterances of 6-7 s with a **fixed per-worker batch** (weak scaling): K workers
process K times the audio per step, so perfect scaling keeps the step time constant and
multiplies the throughput by K.

Each point is a real ``ds2ray train`` run (:func:`ds2ray.train.trainer.run_train`) with
``max_steps`` steps in one epoch (no dev set, no checkpoint inside the measured window). The
throughput comes from the run's own per-step log (``steps.csv``: ``elapsed_s`` and
``audio_s_per_s`` every step), skipping the first ``warmup_steps`` steps (DataLoader start,
first allocations, DDP's first bucket build).

Outputs under ``out_dir``: ``profile.json`` (every point, the config, the machine), and
``profile.png`` (bars of audio-s/s per K with the ideal linear line).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ds2ray.config import ConfigBase, ConfigError

log = logging.getLogger(__name__)

JSON_NAME = "profile.json"
PNG_NAME = "profile.png"


@dataclass(frozen=True)
class ProfileConfig(ConfigBase):
    """One scaling profile. ``batch_size`` is per worker and per step."""

    workers: tuple[int, ...] = (1, 2)
    steps: int = 20  # optimizer steps per point, warmup included
    warmup_steps: int = 3  # first steps left out of the throughput
    batch_size: int = 8
    preset: str = "demo"
    use_gpu: bool = False
    cpus_per_worker: int = 1  # also torch threads per worker
    loader_workers: int = 0  # DataLoader processes per worker (0: features in the training process)
    min_duration: float = 6.0
    max_duration: float = 7.0
    manifest: str | None = None  # take utterances in [min, max] s from here instead of synthesizing
    distinct_utterances: int = 16  # synthesized files; the manifest repeats them as needed
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "workers", tuple(int(k) for k in self.workers))
        if not self.workers or any(k < 1 for k in self.workers):
            raise ConfigError(f"ProfileConfig.workers must be positive counts, got {self.workers}")
        if self.steps <= self.warmup_steps or self.warmup_steps < 0:
            raise ConfigError(f"ProfileConfig: steps ({self.steps}) must exceed warmup_steps ({self.warmup_steps}) >= 0")
        if self.batch_size < 1 or self.cpus_per_worker < 1 or self.loader_workers < 0:
            raise ConfigError("ProfileConfig: batch_size and cpus_per_worker must be >= 1, loader_workers >= 0")
        if not 0 < self.min_duration < self.max_duration:
            raise ConfigError(f"ProfileConfig: need 0 < min_duration < max_duration, got "
                              f"{self.min_duration}..{self.max_duration}")


@dataclass
class ProfilePoint:
    """The result for one worker count."""

    workers: int
    status: str = "ok"  # ok | skipped: <why> | failed: <why>
    measured_steps: int = 0
    seconds: float = 0.0  # wall time of the measured steps
    step_time_s: float = 0.0
    audio_s_per_s: float = 0.0  # audio seconds trained per wall second, all workers
    utterances_per_s: float = 0.0
    speedup: float = 0.0  # throughput / throughput at the smallest K, scaled to K=1 if that is not 1
    efficiency: float = 0.0  # speedup / K
    run_seconds: float = 0.0  # whole run, Ray Train start-up included


@dataclass
class ProfileReport:
    config: ProfileConfig
    points: list[ProfilePoint]
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "machine": self.machine, "points": [asdict(p) for p in self.points]}

    def table(self) -> str:
        head = (f"{'workers':>7} {'step s':>8} {'audio-s/s':>10} {'utt/s':>8} {'speedup':>8} {'ideal':>6} "
                f"{'efficiency':>10}  status")
        lines = [head, "-" * len(head)]
        for p in self.points:
            if p.status != "ok":
                lines.append(f"{p.workers:>7} {'':>8} {'':>10} {'':>8} {'':>8} {p.workers:>5}x {'':>10}  {p.status}")
                continue
            lines.append(f"{p.workers:>7} {p.step_time_s:>8.3f} {p.audio_s_per_s:>10.1f} {p.utterances_per_s:>8.2f} "
                         f"{p.speedup:>7.2f}x {p.workers:>5}x {100 * p.efficiency:>9.0f}%  ok")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# data


def synthesize_manifest(cfg: ProfileConfig, out_dir: Path) -> Path:
    """``distinct_utterances`` seeded speech-like WAVs of min..max s with real sentences as text."""
    from ds2ray.data.manifest import ManifestEntry, write_manifest
    from ds2ray.testing.signals import speechlike, write_audio

    sample_rate = 16000
    path = out_dir / "manifest.synthetic.jsonl"
    rng = np.random.default_rng(cfg.seed)
    sentences = _sentences()
    entries = []
    for i in range(cfg.distinct_utterances):
        duration = float(rng.uniform(cfg.min_duration + 0.05, cfg.max_duration - 0.05))
        wav = out_dir / "wav" / f"utt{i:03d}.wav"
        audio = speechlike(duration, sample_rate, seed=cfg.seed * 1000 + i)
        write_audio(wav, audio, sample_rate)
        text = " ".join(sentences[(i + j) % len(sentences)] for j in range(2))  # ~15 words for ~6.5 s
        entries.append(ManifestEntry(str(wav), len(audio) / sample_rate, text))
    write_manifest(path, entries)
    return path


def _sentences() -> list[str]:
    from importlib import resources

    from ds2ray.data.text import normalize_text

    text = resources.files("ds2ray.resources").joinpath("sentences_en.txt").read_text(encoding="utf-8")
    return [normalize_text(line, "en") for line in text.splitlines() if line.strip()]


def select_utterances(manifest: str, cfg: ProfileConfig) -> list:
    """Entries of ``manifest`` with min_duration <= duration <= max_duration."""
    from ds2ray.data.manifest import read_manifest

    entries = list(read_manifest(manifest, min_duration=cfg.min_duration, max_duration=cfg.max_duration))
    if not entries:
        raise ValueError(f"{manifest}: no utterances of {cfg.min_duration}-{cfg.max_duration} s to profile with; "
                         "pass another --manifest or leave it out to synthesize them")
    return entries


def point_manifest(entries: Sequence, workers: int, cfg: ProfileConfig, out_dir: Path) -> Path:
    """Exactly ``workers * batch_size * steps`` utterances (the pool repeated): one epoch = the run."""
    from ds2ray.data.manifest import write_manifest

    needed = workers * cfg.batch_size * cfg.steps
    path = out_dir / f"manifest.k{workers}.jsonl"
    write_manifest(path, [entries[i % len(entries)] for i in range(needed)], relative=False)
    return path


# ---------------------------------------------------------------------------------------------
# one point


def measure_steps(steps_csv: str | Path, warmup_steps: int) -> tuple[int, float, float]:
    """(measured steps, seconds, audio seconds) after ``warmup_steps`` from a run's ``steps.csv``.

    Each row is one step (``log_every_steps=1``): ``elapsed_s`` is the run's training clock at
    the step's end, ``audio_s_per_s`` the step's audio over its duration, all workers summed.
    """
    with open(steps_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = {"step", "elapsed_s", "audio_s_per_s"} - set(rows[0] if rows else ())
    if missing:
        raise RuntimeError(f"{steps_csv}: the training log lacks column(s) {sorted(missing)} the profiler reads")
    rows.sort(key=lambda r: int(float(r["step"])))
    steps = [int(float(r["step"])) for r in rows]
    if steps != list(range(1, len(steps) + 1)):
        raise RuntimeError(f"{steps_csv}: expected one row per step 1..N (log_every_steps=1), got steps {steps[:10]}...")
    if len(rows) <= warmup_steps:
        raise RuntimeError(f"{steps_csv}: only {len(rows)} step(s) logged, not more than the {warmup_steps} warmup steps")
    elapsed = [float(r["elapsed_s"]) for r in rows]
    if "window_audio_s" in rows[0]:  # the audio each step trained, summed over workers: exact
        audio = sum(float(r["window_audio_s"]) for r in rows[warmup_steps:])
    else:  # older logs: rate x duration (the rate's clock is rank 0's, the duration the mean over ranks)
        rate = [float(r["audio_s_per_s"]) for r in rows]
        audio = sum(rate[i] * (elapsed[i] - elapsed[i - 1]) for i in range(warmup_steps, len(rows)) if i > 0)
        if warmup_steps == 0:
            audio += rate[0] * elapsed[0]
    start = elapsed[warmup_steps - 1] if warmup_steps > 0 else 0.0
    return len(rows) - warmup_steps, elapsed[-1] - start, audio


def capacity() -> tuple[float, float]:
    """(CPUs, GPUs) of the connected Ray cluster."""
    import ray

    res = ray.cluster_resources()
    return float(res.get("CPU", 0.0)), float(res.get("GPU", 0.0))


def run_point(workers: int, entries: Sequence, cfg: ProfileConfig, out_dir: Path) -> ProfilePoint:
    """Train ``cfg.steps`` steps on ``workers`` workers and measure the steps after warmup."""
    from ds2ray.data.normalizer import NormalizerStats
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.model.config import get_preset
    from ds2ray.train.config import TrainConfig
    from ds2ray.train.metrics_log import STEPS_CSV, run_dir
    from ds2ray.train.trainer import build_job, run_train

    cpus, gpus = capacity()
    need_cpus = workers * cfg.cpus_per_worker
    if need_cpus > cpus or (cfg.use_gpu and workers > gpus):
        have = f"{cpus:g} CPUs" + (f", {gpus:g} GPUs" if cfg.use_gpu else "")
        want = f"{need_cpus} CPUs" + (f", {workers} GPUs" if cfg.use_gpu else "")
        return ProfilePoint(workers, status=f"skipped: needs {want}, the cluster has {have}")
    preset = get_preset(cfg.preset)
    features = preset.features
    vocab = Vocabulary.english()
    f = features.num_features
    stats = NormalizerStats(np.zeros(f, np.float32), np.ones(f, np.float32), features)
    longest = max(features.num_frames(int(round(e.duration * features.sample_rate))) for e in entries)
    storage = out_dir / "runs"
    run_name = f"profile_k{workers}"
    shutil.rmtree(run_dir(str(storage), run_name), ignore_errors=True)  # a leftover run would resume
    train = TrainConfig(
        train_manifests=(str(point_manifest(entries, workers, cfg, out_dir)),),
        min_duration=0.0, max_duration=0.0, num_workers=workers, use_gpu=cfg.use_gpu,
        cpus_per_worker=cfg.cpus_per_worker, loader_workers=cfg.loader_workers,
        batch_frames=cfg.batch_size * longest, batch_size=cfg.batch_size, sortagrad=False,
        epochs=1, max_steps=cfg.steps, seed=cfg.seed, run_name=run_name, storage_path=str(storage),
        keep_checkpoints=1, log_every_steps=1,
    )
    job = build_job(train, preset.model, features, vocab, stats)
    t0 = time.perf_counter()
    try:
        result = run_train(job)
    except RuntimeError as err:
        return ProfilePoint(workers, status=f"failed: {err}", run_seconds=time.perf_counter() - t0)
    run_seconds = time.perf_counter() - t0
    if result.error is not None:
        return ProfilePoint(workers, status=f"failed: {result.error}", run_seconds=run_seconds)
    n, seconds, audio = measure_steps(os.path.join(result.run_dir, "logs", STEPS_CSV), cfg.warmup_steps)
    return ProfilePoint(workers, measured_steps=n, seconds=seconds, step_time_s=seconds / n,
                        audio_s_per_s=audio / seconds, utterances_per_s=n * workers * cfg.batch_size / seconds,
                        run_seconds=run_seconds)


def add_speedups(points: list[ProfilePoint]) -> None:
    """Speedup against the smallest measured K (scaled as if it were linear down to K=1)."""
    ok = [p for p in points if p.status == "ok" and p.audio_s_per_s > 0]
    if not ok:
        return
    base = min(ok, key=lambda p: p.workers)
    per_worker = base.audio_s_per_s / base.workers
    for p in ok:
        p.speedup = p.audio_s_per_s / per_worker
        p.efficiency = p.speedup / p.workers


# ---------------------------------------------------------------------------------------------
# the profile


def machine_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"host": platform.node(), "cpus": os.cpu_count(), "torch": torch.__version__,
                            "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpus"] = torch.cuda.device_count()
    try:
        import ray

        cpus, gpus = capacity()
        info["ray_cluster"] = {"CPU": cpus, "GPU": gpus, "nodes": len([n for n in ray.nodes() if n.get("Alive")])}
    except Exception:  # informational only
        pass
    return info


def run_profile(cfg: ProfileConfig, out_dir: str | Path) -> ProfileReport:
    """Profile every K in ``cfg.workers`` (in order); write ``profile.json`` and ``profile.png``."""
    from ds2ray.raycluster import connect
    from ds2ray.train.trainer import TRAIN_RAY_ENV

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.manifest:
        entries = select_utterances(cfg.manifest, cfg)
    else:
        entries = select_utterances(str(synthesize_manifest(cfg, out)), cfg)
    connect(env=TRAIN_RAY_ENV)
    points: list[ProfilePoint] = []
    for k in cfg.workers:
        log.info("profiling %d worker(s): %d steps of %d utterances per worker", k, cfg.steps, cfg.batch_size)
        point = run_point(k, entries, cfg, out)
        points.append(point)
        add_speedups(points)
        print(f"[ds2ray profile] K={k}: " + (f"{point.audio_s_per_s:.1f} audio-s/s, step {point.step_time_s:.3f} s, "
                                              f"speedup {point.speedup:.2f}x" if point.status == "ok" else point.status),
              flush=True)
    report = ProfileReport(cfg, points, machine_info())
    write_report(report, out)
    return report


def write_report(report: ProfileReport, out_dir: Path) -> tuple[Path, Path]:
    from ds2ray import fileio

    json_path = out_dir / JSON_NAME
    with fileio.atomic_write(str(json_path), "w") as fh:
        json.dump(report.to_dict(), fh, indent=2)
        fh.write("\n")
    png_path = out_dir / PNG_NAME
    plot(report, png_path)
    return json_path, png_path


def plot(report: ProfileReport, path: Path) -> None:
    """Bars: audio-s/s per K (speedup on top); line: the ideal linear scaling from the smallest K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [p for p in report.points if p.status == "ok"]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    labels = [str(p.workers) for p in report.points]
    xs = np.arange(len(report.points))
    values = [p.audio_s_per_s if p.status == "ok" else 0.0 for p in report.points]
    bars = ax.bar(xs, values, color="#4c72b0", label="measured")
    for bar, p in zip(bars, report.points):  # speedup inside the top of each bar
        if p.status == "ok":
            ax.annotate(f"{p.speedup:.2f}x\n{p.audio_s_per_s:.0f}/s", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="top", fontsize=9, color="white", xytext=(0, -4), textcoords="offset points")
        else:
            ax.annotate(p.status.split(":")[0], (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom",
                        fontsize=9, xytext=(0, 2), textcoords="offset points")
    if ok:
        base = min(ok, key=lambda p: p.workers)
        per_worker = base.audio_s_per_s / base.workers
        ax.plot(xs, [per_worker * p.workers for p in report.points], "o--", color="#dd8452",
                label="ideal (linear)")
    cfg = report.config
    device = "GPU" if cfg.use_gpu else f"CPU, {cfg.cpus_per_worker} thread(s)/worker"
    ax.set_title(f"ds2ray scaling: {cfg.preset} model, {cfg.batch_size} x {cfg.min_duration:g}-{cfg.max_duration:g} s "
                 f"per worker ({device})", fontsize=9)
    ax.set_xticks(xs, labels)
    ax.set_xlabel("workers")
    ax.set_ylabel("audio seconds trained per second")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def parse_workers(text: str) -> tuple[int, ...]:
    """``"1,2,4,8"`` -> (1, 2, 4, 8)."""
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as err:
        raise ValueError(f"--workers: expected comma-separated counts like 1,2,4,8, got {text!r}") from err
    if not values:
        raise ValueError("--workers: give at least one worker count")
    return values
