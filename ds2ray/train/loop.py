"""The training loop of one worker (one DDP rank): ``train_loop_per_worker`` is what Ray Train runs.

Verb-named steps: :func:`setup_model`, :func:`load_checkpoint`, :func:`train_epoch`,
:func:`evaluate`, :func:`report_metrics`. A :class:`~ds2ray.train.session.Session` hides where the
loop runs: a Ray Train worker or a plain process (:mod:`ds2ray.train.session`).

Every rank runs the same number of steps (see :mod:`ds2ray.train.batching`) and takes every
decision that ends a loop (time budget, step budget) from all-reduced values, so ranks never
disagree about when to stop.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from ds2ray.data.manifest import read_manifest
from ds2ray.model.checkpoint import CheckpointData, load_checkpoint as read_checkpoint, save_checkpoint, unwrap
from ds2ray.model.deepspeech2 import DeepSpeech2, ctc_loss
from ds2ray.model.precision import resolve_precision
from ds2ray.train import batching, schedule
from ds2ray.train.affinity import pin_rank
from ds2ray.train.config import TrainJob
from ds2ray.train.dataset import Batch, SpeechDataset, make_loader, prepare_utterances
from ds2ray.train.gradsync import FlatGradients, broadcast_state, resolve_mode
from ds2ray.train.greedy import decode_texts, dev_errors, dev_rates, dev_stats, greedy_collapse
from ds2ray.train.metrics_log import MetricsLog, format_progress, run_dir
from ds2ray.train.stream import StreamingTrainSet, make_stream_loader, stream_batch_size
from ds2ray.train.session import LocalSession, RaySession, Session

__all__ = ["train_loop_per_worker", "run_training", "LocalSession", "RaySession", "Session", "TrainData", "TrainState"]


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Entry point of each Ray Train worker."""
    job = TrainJob.from_loop_config(loop_config)
    run_training(job, RaySession())


# ---------------------------------------------------------------------------------------------
# state


@dataclass
class TrainState:
    """Position in the data and counters: with the optimizer, all a resume needs."""

    epoch: int = 0
    batch_in_epoch: int = 0  # batches of ``epoch`` every rank has already trained on
    global_step: int = 0
    elapsed_s: float = 0.0  # training time summed over restarts (drives --max-minutes)
    nonfinite_steps: int = 0
    best_dev_cer: float | None = None  # the lowest dev CER reported so far (TrainConfig.keep_best)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainState":
        return cls(**{k: d[k] for k in asdict(cls()) if k in d})


@dataclass
class EpochStats:
    loss_sum: float = 0.0
    utterances: float = 0.0
    audio_seconds: float = 0.0
    failures: float = 0.0
    failure_examples: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What the loop functions share."""

    job: TrainJob
    session: Session
    model: torch.nn.Module  # possibly DDP-wrapped
    optimizer: torch.optim.Optimizer
    state: TrainState
    data: "TrainData"
    total_steps: int
    logger: MetricsLog | None
    amp: bool
    grads: FlatGradients | None = None  # flat gradient sync (``grad_sync`` flat); None: DDP or one rank
    started: float = field(default_factory=time.perf_counter)
    elapsed_at_start: float = 0.0

    def elapsed(self) -> float:
        return self.elapsed_at_start + time.perf_counter() - self.started

    def log(self, msg: str) -> None:
        if self.session.rank == 0:  # not print(): Ray Train patches it and the line would show twice
            sys.stdout.write(f"[ds2ray train {time.strftime('%H:%M:%S')}] {msg}\n")
            sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# data


class TrainData:
    """The utterances, datasets and per-epoch batch plans of one rank."""

    def __init__(self, job: TrainJob, rank: int, world_size: int) -> None:
        cfg = job.train
        self.job, self.rank, self.world_size = job, rank, world_size
        manifest = read_manifest(list(cfg.train_manifests), min_duration=cfg.min_duration or None,
                                 max_duration=cfg.max_duration or None, skip_bad=True)
        self.train_utts, self.train_report = prepare_utterances(manifest.entries, job.vocab, job.features, job.model)
        self.manifest_summary = manifest.summary()
        if not self.train_utts:
            raise ValueError(f"no trainable utterances in {list(cfg.train_manifests)}: {self.train_report.summary()}")
        self.lengths = [u.frames for u in self.train_utts]
        self.train_set = SpeechDataset(self.train_utts, job.features, job.normalizer, _augment_steps(job),
                                       seed=cfg.seed, train=True)
        if self.train_set.augment is not None:  # e.g. reverb's rooms: built once here, pickled to loaders
            self.train_set.augment.prepare(job.features.sample_rate)
        self.stream: StreamingTrainSet | None = None
        if cfg.stream:
            self.stream = StreamingTrainSet(
                self.train_set, stream_batch_size(self.lengths, cfg.batch_frames, cfg.batch_size), rank=rank,
                world_size=world_size, seed=cfg.seed, shuffle_buffer=cfg.shuffle_buffer,
                cache_dir=cfg.stream_cache_dir)
        self.dev_utts = []
        if cfg.dev_manifests:
            dev = read_manifest(list(cfg.dev_manifests), skip_bad=True)
            self.dev_utts, self.dev_report = prepare_utterances(dev.entries, job.vocab, job.features, job.model)
            if cfg.dev_max_utterances and len(self.dev_utts) > cfg.dev_max_utterances:
                rng = random.Random(cfg.seed)
                self.dev_utts = rng.sample(self.dev_utts, cfg.dev_max_utterances)
        self.dev_set = SpeechDataset(self.dev_utts, job.features, job.normalizer, None, train=False)

    @property
    def mode(self) -> str:
        if self.stream is None:
            return "map-style (sorted duration buckets)"
        return (f"streaming {self.stream.num_shards} shard(s), {self.stream.batch_size} utterances per batch, "
                f"shuffle buffer {self.job.train.shuffle_buffer}")

    def num_batches(self, epoch: int) -> int:
        """Batches of ``epoch`` on this rank (the same count on every rank)."""
        if self.stream is not None:
            return self.stream.num_batches(epoch, self.job.train.loader_workers)
        return len(self.batches(epoch))

    def loader(self, epoch: int, start: int = 0) -> Iterable[Batch]:
        """This rank's batches of ``epoch`` from batch ``start`` on."""
        workers = self.job.train.loader_workers
        if self.stream is not None:
            return make_stream_loader(self.stream, epoch, workers, start)
        self.train_set.epoch = epoch
        return make_loader(self.train_set, self.batches(epoch)[start:], workers)

    def batches(self, epoch: int) -> list[list[int]]:
        """Map-style plan: this rank's batches of ``epoch`` as utterance indices."""
        cfg = self.job.train
        return batching.rank_batches(self.lengths, epoch, rank=self.rank, world_size=self.world_size, seed=cfg.seed,
                                     max_frames=cfg.batch_frames, max_size=cfg.batch_size, sortagrad=cfg.sortagrad)

    def dev_batches(self) -> list[list[int]]:
        lengths = [u.frames for u in self.dev_utts]
        order = np.argsort(lengths, kind="stable")
        all_batches = batching.cut_batches(lengths, order, self.job.train.batch_frames, self.job.train.batch_size)
        return all_batches[self.rank:: self.world_size]  # eval needs no equal counts: no DDP inside


def _augment_steps(job: TrainJob) -> list[dict[str, Any]] | None:
    return list(job.augment) if job.augment else None


# ---------------------------------------------------------------------------------------------
# the verbs


def setup_model(job: TrainJob, device: torch.device) -> DeepSpeech2:
    """The model on ``device``, identical on every rank (seeded); ``--init-from`` weights if given."""
    torch.manual_seed(job.train.seed)
    model = DeepSpeech2(job.model)
    if job.train.init_from:
        ckpt = read_checkpoint(job.train.init_from)
        if ckpt.model_config != job.model:
            raise ValueError(f"--init-from {job.train.init_from}: its model config differs from this run's "
                             f"({ckpt.model_config} vs {job.model})")
        model.load_state_dict(ckpt.model_state)
    return model.to(device)


def load_checkpoint(restored: CheckpointData, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainState:
    """Weights, optimizer, RNG and position from a restored checkpoint; returns the state."""
    unwrap(model).load_state_dict(restored.model_state)
    ts = restored.train_state or {}
    if "optimizer" in ts:
        optimizer.load_state_dict(ts["optimizer"])
    rng = ts.get("rng")
    if rng:
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if torch.cuda.is_available() and rng.get("cuda") is not None:
            with contextlib.suppress(RuntimeError):
                torch.cuda.set_rng_state_all(rng["cuda"])
    return TrainState.from_dict(ts.get("state", {}))


def _train_state_payload(ctx: Context) -> dict[str, Any]:
    return {
        "state": asdict(ctx.state),
        "optimizer": ctx.optimizer.state_dict(),
        "scheduler": {"type": ctx.job.train.lr_schedule, "global_step": ctx.state.global_step,
                      "elapsed_s": ctx.state.elapsed_s, "total_steps": ctx.total_steps},
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
    }


def report_metrics(ctx: Context, metrics: dict[str, Any], *, checkpoint: bool) -> None:
    """Report to Ray (a barrier for all ranks); rank 0 writes the checkpoint and the logs."""
    state = ctx.state
    metrics = _positioned(ctx, metrics)
    name = f"checkpoint_e{state.epoch:03d}_b{state.batch_in_epoch:06d}_s{state.global_step:08d}"
    with tempfile.TemporaryDirectory(prefix="ds2ray_ckpt_") as tmp:
        folder = None
        if checkpoint and ctx.session.rank == 0:
            _save_model(ctx, tmp, metrics, train_state=_train_state_payload(ctx))
            folder = tmp
        ctx.session.report(metrics, folder, name)


def _positioned(ctx: Context, metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with where the run stands: epoch, global step, batch in the epoch."""
    state = ctx.state
    return {**metrics, "epoch": state.epoch, "step": state.global_step, "batch_in_epoch": state.batch_in_epoch}


def _save_model(ctx: Context, folder: str, metrics: dict[str, Any], train_state: dict[str, Any] | None = None) -> None:
    job = ctx.job
    save_checkpoint(folder, ctx.model, model_config=job.model, feature_config=job.features, vocab=job.vocab,
                    normalizer=job.normalizer, train_state=train_state, train_config=job.train.to_dict(),
                    metrics=metrics)


#: Folder of the run (beside Ray's checkpoints) that holds the lowest-dev-CER checkpoint.
BEST_DIR = "best"


def _improves(metrics: dict[str, Any], best: float | None) -> bool:
    cer = metrics.get("dev_cer")
    return cer is not None and math.isfinite(cer) and (best is None or cer < best)


def save_best(ctx: Context, metrics: dict[str, Any]) -> None:
    """Rank 0 writes the model (no optimizer state: it is for use, not resume) to ``<run>/best``."""
    if ctx.session.rank != 0:
        return
    cfg = ctx.job.train
    folder = f"{run_dir(cfg.storage_path, cfg.run_name).rstrip('/')}/{BEST_DIR}"
    _save_model(ctx, folder, _positioned(ctx, metrics))
    ctx.log(f"best dev CER so far ({metrics['dev_cer']:.4f} at step {ctx.state.global_step}): kept in {folder}")


#: Step statistics all-reduced with (``flat``) or after (``ddp``) the gradients.
STEP_STATS = ("elapsed_s", "loss_sum", "utterances", "audio_s", "failures")

#: Where a step's time goes, logged per window in steps.csv as ``<phase>_s`` (seconds summed over the window).
PHASES = ("data", "forward", "backward", "sync", "optimizer", "report")


def _sync_step(ctx: Context, loss_sum: float, n: int, audio_s: float, failures: int) -> tuple[float, float, float, float, float]:
    """Gradients averaged and batch stats summed over ranks; elapsed time is the mean over ranks.

    ``flat``: one all-reduce of the gradient buffer with the stats in its tail; ``ddp``: DDP already
    reduced the gradients during the backward pass, so one small all-reduce of the stats."""
    stats = [ctx.elapsed(), loss_sum, float(n), audio_s, float(failures)]
    totals = ctx.grads.all_reduce(stats) if ctx.grads is not None else ctx.session.all_reduce(stats)
    elapsed, loss_sum, n, audio_s, failures = totals
    return elapsed / ctx.session.world_size, loss_sum, n, audio_s, failures


def _maybe_fail(ctx: Context) -> None:
    """Test hook (``TrainConfig.fail_at_step``): raise once, recording it in ``fail_marker``."""
    cfg = ctx.job.train
    if cfg.fail_at_step and ctx.state.global_step + 1 == cfg.fail_at_step and ctx.session.rank == cfg.fail_rank:
        marker = Path(cfg.fail_marker)
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"failed at step {cfg.fail_at_step}\n")
            raise RuntimeError(f"test hook: rank {ctx.session.rank} fails at step {cfg.fail_at_step}")


def _forward_loss(ctx: Context, batch: Batch) -> tuple[torch.Tensor, int]:
    """Loss of one batch (mean over utterances of loss / label length) and its utterance count."""
    device = ctx.session.device
    model = ctx.model
    if batch.size == 0:  # every sample unreadable: a zero-gradient step keeps DDP ranks in step
        frames = 64
        feats = torch.zeros(1, frames, ctx.job.model.num_features, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=ctx.amp):
            logits, _ = model(feats, torch.tensor([frames], device=device))
        return logits.float().sum() * 0.0, 0
    feats = batch.features.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=ctx.amp):
        logits, out_lengths = model(feats, batch.lengths.to(device))
    loss = ctc_loss(logits, out_lengths, batch.targets.to(device), batch.target_lengths.to(device))
    return loss, batch.size


def train_epoch(ctx: Context, epoch: int, stats: EpochStats) -> str | None:
    """Train the rest of ``epoch`` from ``state.batch_in_epoch``. Returns why it stopped early, if it did."""
    cfg = ctx.job.train
    state = ctx.state
    num_batches = ctx.data.num_batches(epoch)
    loader = ctx.data.loader(epoch, state.batch_in_epoch)
    ctx.model.train()
    params = [p for p in ctx.model.parameters() if p.requires_grad]
    window = new_window()
    clock = time.perf_counter()
    for batch in loader:
        clock = _phase(window, "data", clock)
        _maybe_fail(ctx)
        stats.failure_examples.extend(f"{f.path}: {f.error}" for f in batch.failures[:3])
        prog = schedule.progress(state.global_step, ctx.total_steps, state.elapsed_s, cfg.max_minutes)
        lr = schedule.learning_rate(cfg, prog, epoch)
        for group in ctx.optimizer.param_groups:
            group["lr"] = lr
        loss, n = _forward_loss(ctx, batch)
        clock = _phase(window, "forward", clock)
        if ctx.grads is not None:
            ctx.grads.zero()
        else:
            ctx.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clock = _phase(window, "backward", clock)
        loss_value = float(loss.detach()) * n if n else 0.0
        elapsed, loss_sum, n_all, audio, failures = _sync_step(ctx, loss_value, n, batch.audio_seconds,
                                                              len(batch.failures))
        clock = _phase(window, "sync", clock)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        if torch.isfinite(grad_norm):  # same on every rank: gradients are all-reduced
            ctx.optimizer.step()
        else:
            state.nonfinite_steps += 1
        clock = _phase(window, "optimizer", clock)
        state.global_step += 1
        state.batch_in_epoch += 1
        state.elapsed_s = elapsed
        stats.loss_sum += loss_sum
        stats.utterances += n_all
        stats.audio_seconds += audio
        stats.failures += failures
        window["loss"] += loss_sum
        window["n"] += n_all
        window["audio"] += audio
        window["steps"] += 1
        if ctx.logger is not None and (state.global_step % cfg.log_every_steps == 0 or state.global_step == 1):
            _log_step(ctx, epoch, lr, window)
        stop = _stop_reason(ctx)
        if stop:
            return stop
        if (cfg.checkpoint_every_steps and state.global_step % cfg.checkpoint_every_steps == 0
                and state.batch_in_epoch < num_batches):
            report_metrics(ctx, {"train_loss": window_loss(stats), "lr": lr}, checkpoint=True)
        clock = _phase(window, "report", clock)
    return None


def new_window() -> dict[str, float]:
    """Counters of the steps since the last log line (loss, utterances, audio, time per phase)."""
    return {"loss": 0.0, "n": 0.0, "audio": 0.0, "t": time.perf_counter(), "steps": 0,
            **{f"{p}_s": 0.0 for p in PHASES}}


def _phase(window: dict[str, float], phase: str, since: float) -> float:
    """Add the time since ``since`` to ``phase``; returns now (the start of the next phase)."""
    now = time.perf_counter()
    window[f"{phase}_s"] += now - since
    return now


def window_loss(stats: EpochStats) -> float:
    return stats.loss_sum / stats.utterances if stats.utterances else float("nan")


def _log_step(ctx: Context, epoch: int, lr: float, window: dict[str, float]) -> None:
    state = ctx.state
    now = time.perf_counter()
    dt = max(1e-9, now - window["t"])
    loss = window["loss"] / window["n"] if window["n"] else float("nan")
    rate = window["audio"] / dt
    sec_per_step = dt / max(1, window["steps"])
    remaining = (ctx.total_steps - state.global_step) * sec_per_step
    if ctx.job.train.max_minutes > 0:
        remaining = min(remaining, 60 * ctx.job.train.max_minutes - state.elapsed_s)
    ctx.log(format_progress(epoch, ctx.job.train.epochs, state.global_step, ctx.total_steps, loss, lr, rate, remaining,
                            budget_s=60.0 * ctx.job.train.max_minutes, elapsed_s=state.elapsed_s))
    ctx.logger.step(state.global_step, {"epoch": epoch, "batch": state.batch_in_epoch, "loss": loss, "lr": lr,
                                        "audio_s_per_s": rate, "elapsed_s": state.elapsed_s,
                                        "window_audio_s": window["audio"], "window_utterances": window["n"],
                                        "window_steps": window["steps"],
                                        **{f"{p}_s": window[f"{p}_s"] for p in PHASES}})
    window.update(new_window(), t=now)


def _stop_reason(ctx: Context) -> str | None:
    cfg, state = ctx.job.train, ctx.state
    if cfg.max_steps and state.global_step >= cfg.max_steps:
        return f"max_steps {cfg.max_steps} reached"
    if cfg.max_minutes and state.elapsed_s >= 60.0 * cfg.max_minutes:
        return f"time budget of {cfg.max_minutes:g} min reached"
    return None


@torch.no_grad()
def evaluate(ctx: Context) -> dict[str, float]:
    """Dev loss and greedy CER/WER over every rank's share of the dev set (all-reduced)."""
    data = ctx.data
    if not data.dev_utts:
        return {}
    model = unwrap(ctx.model)  # no DDP collectives inside: ranks may hold different batch counts
    if ctx.grads is not None and ctx.session.world_size > 1:
        broadcast_state(model)  # rank 0's batch-norm statistics (the checkpoint's) on every rank
    model.eval()
    device = ctx.session.device
    loss_sum = 0.0
    n = 0
    failures = 0
    refs: list[str] = []
    hyps: list[str] = []
    for batch in make_loader(data.dev_set, data.dev_batches(), ctx.job.train.loader_workers):
        failures += len(batch.failures)
        if batch.size == 0:
            continue
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=ctx.amp):
            logits, out_lengths = model(batch.features.to(device), batch.lengths.to(device))
        losses = ctc_loss(logits, out_lengths, batch.targets.to(device), batch.target_lengths.to(device),
                          reduction="none") / batch.target_lengths.to(device).clamp(min=1)
        loss_sum += float(losses.sum())
        n += batch.size
        hyps += decode_texts(ctx.job.vocab, greedy_collapse(logits.float(), out_lengths))
        refs += [data.dev_utts[i].text for i in batch.indices]
    errors = dev_stats(*dev_errors(refs, hyps, ctx.job.vocab.language))
    loss_sum, n, failures, *errors = ctx.session.all_reduce([loss_sum, float(n), float(failures), *errors])
    model.train()
    rates = dev_rates(errors) if n else {"dev_cer": float("nan"), "dev_wer": float("nan")}
    return {"dev_loss": loss_sum / n if n else float("nan"), **rates, "dev_utterances": n, "dev_skipped": failures}


# ---------------------------------------------------------------------------------------------
# the run


def plan_total_steps(data: TrainData, epochs: int, max_steps: int) -> int:
    total = sum(data.num_batches(e) for e in range(epochs))
    return min(total, max_steps) if max_steps else total


def run_training(job: TrainJob, session: Session) -> dict[str, Any]:
    """Train (or resume) to the end of the plan or a budget; returns the last reported metrics."""
    cfg = job.train
    torch.set_num_threads(cfg.cpus_per_worker)
    pinned = None
    if cfg.pin_cpus and session.device.type == "cpu":  # before the loader processes start: they inherit it
        pinned = pin_rank(session.local_rank, session.local_world_size, cfg.cpus_per_worker)
    if session.device.type == "cpu":
        # Trained RNN weights and gradients drift into denormal floats, which x86 computes ~10x slower:
        # flushing them to zero makes CPU steps ~17% faster on real speech (no effect on accuracy).
        torch.set_flush_denormal(True)
    model = setup_model(job, session.device)
    # CPU: the big products in bfloat16 where the CPU has it natively (ds2ray.model.precision); CUDA: autocast
    matmul_dtype = resolve_precision(cfg.precision, session.device) if session.device.type == "cpu" else None
    model.set_matmul_dtype(matmul_dtype)
    # The fused kernel does Adam's update in one pass over each parameter (CPU and CUDA), equal to the
    # foreach one to float rounding; on the demo model clip + step took 8.5 ms against 21-28 ms
    # (measured with a training run beside it: not an idle figure).
    fused = True if session.device.type in ("cpu", "cuda") else None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    restored = session.restore()
    state = load_checkpoint(restored, model, optimizer) if restored is not None else TrainState()
    sync = resolve_mode(cfg.grad_sync, session.device) if session.world_size > 1 else "flat"
    model = session.wrap_model(model, ddp=sync == "ddp")
    grads = None
    if sync == "flat":
        if session.world_size > 1:
            broadcast_state(model)  # every rank starts from rank 0's weights, as DDP would
        grads = FlatGradients(list(model.parameters()), len(STEP_STATS), session.world_size, cfg.grad_compression,
                              cfg.grad_transport)
    data = TrainData(job, session.rank, session.world_size)
    total = plan_total_steps(data, cfg.epochs, cfg.max_steps)
    logger = MetricsLog(cfg.storage_path, cfg.run_name, resume_step=state.global_step) if session.rank == 0 else None
    amp = session.device.type == "cuda" and cfg.precision != "fp32"
    ctx = Context(job, session, model, optimizer, state, data, total, logger, amp, grads=grads,
                  elapsed_at_start=state.elapsed_s)
    if pinned:
        ctx.log(pinned)
    ctx.log(f"train: {data.manifest_summary}; {data.train_report.summary()}; {data.mode}")
    if job.augment:
        ctx.log("augmentation: " + ", ".join(f"{step.get('type')} (prob {step.get('prob', 1.0):g})"
                                             for step in job.augment))
    ctx.log(f"{session.world_size} worker(s), {total} steps planned over {cfg.epochs} epoch(s), "
            f"{unwrap(model).num_parameters() / 1e6:.2f}M parameters, device {session.device}"
            + (f", bf16 autocast" if amp else "")
            + (f", bf16 matrix products" if matmul_dtype is not None else "")
            + (f", gradients: {sync}" + (f" ({cfg.grad_compression})" if cfg.grad_compression != "none" else "")
               + (f" over {grads.transport}" if grads is not None else "")
               if session.world_size > 1 else ""))
    if restored is not None:
        ctx.log(f"resumed from {restored.path}: epoch {state.epoch + 1}, batch {state.batch_in_epoch}, "
                f"step {state.global_step}")
    last: dict[str, Any] = {}
    try:
        stop = _stop_reason(ctx)
        while state.epoch < cfg.epochs and not stop:
            epoch = state.epoch
            stats = EpochStats()
            stop = train_epoch(ctx, epoch, stats)
            finished_epoch = state.batch_in_epoch >= data.num_batches(epoch)
            if finished_epoch:
                state.epoch, state.batch_in_epoch = epoch + 1, 0
            metrics = {"train_loss": window_loss(stats), "skipped": stats.failures,
                       "audio_seconds": stats.audio_seconds, "elapsed_s": state.elapsed_s,
                       "lr": optimizer.param_groups[0]["lr"], **evaluate(ctx)}
            if stats.failures:
                first = "; ".join(stats.failure_examples[:3])
                ctx.log(f"epoch {epoch + 1}: skipped {int(stats.failures)} unreadable sample(s) (rank 0's first: {first})")
            if stop:
                metrics["stopped"] = stop
            ctx.log(f"epoch {epoch + 1} {'done' if finished_epoch else 'stopped: ' + str(stop)}: "
                    + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
            if logger is not None:
                logger.epoch(state.global_step, {"epoch": epoch + 1, **metrics})
            if cfg.keep_best and _improves(metrics, state.best_dev_cer):
                state.best_dev_cer = float(metrics["dev_cer"])  # before the report: its checkpoint carries it
                save_best(ctx, metrics)
            report_metrics(ctx, metrics, checkpoint=True)
            last = metrics
    finally:
        if logger is not None:
            logger.close()
    return last
