"""The (alpha, beta) grid on Ray Tune: acoustic outputs in the object store once, warm decoder actors.

Shapes: ``log_probs`` holds one ``(T'_i, V)`` float32 matrix per dev utterance (blank = id 0).

How the work is laid out:

- The log-probs are put into the Ray object store ONCE (``ray.put``; an ``ObjectRef`` given by the
  caller is used as is) and reach the trials through ``tune.with_parameters``, so no trial ships
  them again. Numpy arrays are read from the store without a copy.
- One trial per grid point (``tune.grid_search`` over alpha and beta). :class:`GridPointTrainable`
  builds the beam decoder, loading the KenLM model, in ``setup`` once per actor; with
  ``TuneConfig(reuse_actors=True)`` later trials on that actor only run ``reset_config``, which
  calls ``reset_params(alpha, beta)`` on the warm decoder.
- ``num_workers`` decoder actors (one CPU each) = ``max_concurrent_trials``.
- A :class:`ray.tune.Callback` prints WER/CER of every point as it arrives, with the running best,
  progress and an ETA, and appends it to ``points.partial.csv``; at the end every point goes to
  ``points.csv``/``points.json``, the best to ``best.json``, the surface to ``error_surface.png``.

Tune's own per-trial loggers (result.json, progress.csv, TensorBoard files for each of 360 trials)
are switched off (``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``) and its storage goes to a temporary
folder: the files above hold everything. ``engine="plain"`` runs the same grid in this process
(:mod:`ds2ray.tune.plain`), the reference the Ray engine must match exactly.

Library entry points: :func:`tune_grid` (one grid) and :func:`tune_two_stage` (coarse grid on a
subset, fine grid around its best on the whole set).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import ray
from ray import tune

from ds2ray.decode.base import DecoderConfig
from ds2ray.metrics import default_error_rate_type
from ds2ray.tune.grid import GridSpec, TwoStageSpec
from ds2ray.tune.plain import beam_config, check_inputs, evaluate_point, reference_texts, run_points
from ds2ray.tune.output import write_results
from ds2ray.tune.results import PointResult, Progress, TuneResult, in_grid_order, point_metrics

if TYPE_CHECKING:
    from ds2ray.data.vocab import Vocabulary

log = logging.getLogger(__name__)

LogProbs = Sequence[np.ndarray] | ray.ObjectRef


# --- the trainable: one warm decoder per actor -----------------------------------------------------
#: How long a decoder actor waits for the others before its first point (see :class:`WorkerRendezvous`).
RENDEZVOUS_TIMEOUT_S = 60.0


class WorkerRendezvous:
    """A start barrier for the decoder actors (a Ray actor using no CPU).

    With ``reuse_actors=True``, when a trial finishes, Tune gives the next trial to that idle actor
    and cancels any actor it is still starting for it. A grid point takes about a second, starting
    an actor several: the first actor would keep finishing points before a second one is up, and the
    whole grid would run on one worker. So each actor's first trial calls :meth:`arrive` and waits
    until ``expected`` actors are running trials (or a timeout passes: a cluster too busy to host
    them all) before decoding; from then on every actor always has a trial.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0

    def arrive(self) -> int:
        self.arrived += 1
        return self.arrived

    def ready(self) -> bool:
        return self.arrived >= self.expected


def _wait_for_all(rendezvous: Any, timeout_s: float) -> None:
    ray.get(rendezvous.arrive.remote())
    deadline = time.monotonic() + timeout_s
    while not ray.get(rendezvous.ready.remote()):
        if time.monotonic() > deadline:
            log.warning("decoder worker %d: the other workers did not start within %.0f s; going on without them",
                        os.getpid(), timeout_s)
            return
        time.sleep(0.02)


class GridPointTrainable(tune.Trainable):
    """Decodes the dev set at one (alpha, beta) per trial; the LM is loaded once per actor.

    ``setup`` receives (through ``tune.with_parameters``) the log-probs, the normalised references,
    the vocabulary and the decoder config as dicts, ``limit`` (use the first ``limit`` utterances;
    ``None``: all) and the :class:`WorkerRendezvous` handle. Each trial is one ``step``; it reports
    the point's WER, CER and exact error counts, plus ``pid`` and ``setups`` (decoders this process
    built) to show actor reuse.
    """

    setups = 0  # per process: how many times setup() built a decoder

    def setup(self, config: dict, log_probs: Sequence[np.ndarray] = (), refs: Sequence[str] = (),
              vocab: dict | None = None, decoder: dict | None = None, limit: int | None = None,
              rendezvous: Any = None) -> None:
        from ds2ray.data.vocab import Vocabulary
        from ds2ray.decode import build_decoder

        type(self).setups += 1
        self.vocab = Vocabulary.from_dict(vocab or {})
        self.log_probs = list(log_probs[:limit] if limit else log_probs)
        self.refs = list(refs)
        self.decoder = build_decoder(DecoderConfig.from_dict(decoder or {}), self.vocab)  # loads the LM
        self.decoder.reset_params(alpha=config["alpha"], beta=config["beta"])
        self.rendezvous = rendezvous  # waited on before the first point

    def reset_config(self, new_config: dict) -> bool:
        """Actor reuse: the next grid point on the same warm decoder (no LM reload)."""
        self.decoder.reset_params(alpha=new_config["alpha"], beta=new_config["beta"])
        return True

    def step(self) -> dict[str, Any]:
        if self.rendezvous is not None:
            _wait_for_all(self.rendezvous, RENDEZVOUS_TIMEOUT_S)
            self.rendezvous = None
        point = evaluate_point(self.decoder, self.log_probs, self.refs, self.vocab.language)
        return {**point_metrics(point), "pid": os.getpid(), "setups": type(self).setups, "done": True}


class _PointCallback(tune.Callback):
    """Feeds each trial's result to :class:`~ds2ray.tune.results.Progress`; keeps trial errors."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.workers: dict[int, int] = {}  # pid -> decoders built in that process
        self.errors: list[tuple[dict, str]] = []

    def __getstate__(self) -> dict:
        # Tune pickles its run config (with this callback) for Tuner.restore, which is never used here;
        # the progress printer may hold an unpicklable ``report`` (e.g. a file's write method).
        return {**self.__dict__, "progress": None}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.workers[int(result["pid"])] = int(result["setups"])
        self.progress.add(PointResult.from_metrics(result))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.errors.append((dict(trial.config), str(getattr(trial, "error_file", "") or "")))


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """No per-trial Tune logger files, and none of Tune's INFO chatter or its warning that those
    missing files hold no metrics; restored afterwards."""
    env = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
           "RAY_AIR_NEW_OUTPUT": "0"}  # the new output engine prints its header table even at verbose=0
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    logger = logging.getLogger("ray.tune")
    old_level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old_level)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --- engines ---------------------------------------------------------------------------------------
@dataclass
class _Job:
    """What an engine needs: the data (list or object ref), the references, the decoder."""

    log_probs: LogProbs
    refs: list[str]
    vocab: "Vocabulary"
    config: DecoderConfig
    limit: int | None


def _trial_error(err_file: str) -> str:
    try:
        with open(err_file, encoding="utf-8") as fh:
            lines = [line for line in fh.read().strip().splitlines() if line.strip()]
        return lines[-1] if lines else "(empty error file)"
    except OSError:
        return f"(see {err_file})"


def _run_tune(job: _Job, grid: GridSpec, num_workers: int, progress: Progress) -> dict[str, Any]:
    from ds2ray.decode.base import ray_worker_count

    workers = ray_worker_count(min(num_workers, grid.size), what="decoder workers")
    ref = job.log_probs if isinstance(job.log_probs, ray.ObjectRef) else ray.put(list(job.log_probs))
    rendezvous = ray.remote(num_cpus=0)(WorkerRendezvous).remote(workers)
    trainable = tune.with_resources(
        tune.with_parameters(GridPointTrainable, log_probs=ref, refs=job.refs, vocab=job.vocab.to_dict(),
                             decoder=job.config.to_dict(), limit=job.limit, rendezvous=rendezvous),
        {"cpu": 1},
    )
    callback = _PointCallback(progress)
    storage = tempfile.mkdtemp(prefix="ds2ray_tune_")
    try:
        tuner = tune.Tuner(
            trainable,
            param_space={"alpha": tune.grid_search(list(grid.alphas)), "beta": tune.grid_search(list(grid.betas))},
            tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=workers),
            run_config=tune.RunConfig(
                name="alpha_beta_grid", storage_path=storage, verbose=0, callbacks=[callback],
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=True),
                checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=0, checkpoint_at_end=False),
            ),
        )
        with _quiet_tune():
            grid_result = tuner.fit()
    finally:
        ray.kill(rendezvous)
        shutil.rmtree(storage, ignore_errors=True)
    if callback.errors or grid_result.errors:
        config, err_file = callback.errors[0] if callback.errors else ({}, "")
        cause = grid_result.errors[0] if grid_result.errors else None
        detail = str(cause).strip().splitlines()[-1] if cause is not None else _trial_error(err_file)
        raise RuntimeError(f"tuning stopped: the trial at alpha={config.get('alpha')}, beta={config.get('beta')} "
                           f"failed: {detail}") from cause
    return {"decoder_workers": workers, "worker_processes": len(callback.workers),
            "decoders_built": sum(callback.workers.values())}


def _run_plain(job: _Job, grid: GridSpec, num_workers: int, progress: Progress) -> dict[str, Any]:
    log_probs = ray.get(job.log_probs) if isinstance(job.log_probs, ray.ObjectRef) else job.log_probs
    run_points(log_probs[: job.limit] if job.limit else log_probs, job.refs, job.vocab, job.config,
               grid.points(), progress.add)
    return {"decoder_workers": 1, "worker_processes": 1, "decoders_built": 1}


#: engine name -> ``(job, grid, num_workers, progress) -> stats``.
ENGINES: dict[str, Callable[[_Job, GridSpec, int, Progress], dict[str, Any]]] = {
    "tune": _run_tune,
    "plain": _run_plain,
}


# --- public API ------------------------------------------------------------------------------------
def _checked_count(log_probs: LogProbs, vocab: "Vocabulary") -> int:
    """How many matrices; each must be ``(T', vocab.size)`` floats (a clear error here, not in a worker)."""
    from ds2ray.decode.base import check_log_probs

    matrices = ray.get(log_probs) if isinstance(log_probs, ray.ObjectRef) else log_probs  # no copy of arrays
    for i, lp in enumerate(matrices):
        check_log_probs(lp, vocab, what=f"log-probs of dev utterance {i}")
    return len(matrices)


def tune_grid(log_probs: LogProbs, refs: Sequence[Any], vocab: "Vocabulary", lm_path: str,
              grid: GridSpec = GridSpec(), *, num_workers: int = 2, out_dir: str | None = None,
              decoder: DecoderConfig | None = None, error_rate_type: str | None = None,
              limit: int | None = None, engine: str = "tune", report: Callable[[str], None] | None = print,
              plot: bool = True, label: str = "") -> TuneResult:
    """Decode the dev set at every (alpha, beta) of ``grid`` and pick the best point.

    ``log_probs``: ``(T'_i, V)`` matrices (or an ``ObjectRef`` to such a list, put once by the caller,
    e.g. for two stages); ``refs``: one transcript (or manifest entry) each; ``vocab``: the
    checkpoint's vocabulary; ``lm_path``: the KenLM model whose weight is tuned. ``decoder``: beam
    settings (width, pruning) to keep; its alpha/beta are ignored. ``limit``: tune on the first
    ``limit`` utterances only. ``error_rate_type``: ``"wer"``/``"cer"`` (default by language).
    ``engine``: ``"tune"`` (Ray Tune, ``num_workers`` warm decoder actors) or ``"plain"`` (a loop in
    this process). ``report``: called with one line per point (``None``: silent). ``out_dir``:
    write ``points.csv``, ``points.json``, ``best.json`` and (``plot``) ``error_surface.png`` there.

    Raises ``ValueError`` for an empty dev set, ``FileNotFoundError`` for a missing LM (before any
    worker starts), ``RuntimeError`` when a trial fails.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown tuning engine {engine!r}; expected one of {sorted(ENGINES)}")
    kind = error_rate_type or default_error_rate_type(vocab.language)
    if kind not in ("wer", "cer"):
        raise ValueError(f"error_rate_type must be 'wer' or 'cer', got {kind!r}")
    config = beam_config(lm_path, decoder)
    n_total = _checked_count(log_probs, vocab)
    if len(refs) != n_total:
        raise ValueError(f"{n_total} log-prob matrices but {len(refs)} reference transcripts")
    n = min(limit, n_total) if limit else n_total
    texts = reference_texts(list(refs)[:n], vocab.language)
    check_inputs(n, texts, vocab, config)
    progress = Progress(grid.size, kind, report=report, out_dir=out_dir, label=label)
    if report is not None:
        report(f"{label + ' ' if label else ''}tuning {grid.describe()} on {n} utterances, {kind.upper()}, "
               f"engine {engine}" + (f", decoder workers: {num_workers}" if engine == "tune" else ""))
    start = time.perf_counter()
    stats = ENGINES[engine](_Job(log_probs, texts, vocab, config, n if n < n_total else None), grid, num_workers,
                            progress)
    elapsed = time.perf_counter() - start
    points = in_grid_order(progress.points, grid.points())
    result = TuneResult(points, kind, grid.to_dict(), n, config.to_dict(), engine, stats["decoder_workers"], elapsed,
                        stats=stats)
    result.decoder = config.replace(alpha=result.best_alpha, beta=result.best_beta).to_dict()
    if out_dir:
        write_results(result, out_dir, plot=plot)
    if report is not None:
        report(f"{label + ' ' if label else ''}{result.summary()}")
    return result


def tune_two_stage(log_probs: LogProbs, refs: Sequence[Any], vocab: "Vocabulary", lm_path: str,
                   spec: TwoStageSpec = TwoStageSpec(), *, out_dir: str | None = None,
                   **kwargs: Any) -> tuple[TuneResult, TuneResult]:
    """The seed's advice: ``spec.coarse`` on the first utterances, then a finer grid around its best
    (one coarse step each side) on the whole set. The log-probs go into the object store once for
    both stages. ``out_dir``: ``stage1_coarse/`` and ``stage2_fine/`` folders, and the final
    ``best.json`` (the fine stage's) at the top. ``kwargs`` go to :func:`tune_grid`."""
    if kwargs.get("engine", "tune") == "tune" and not isinstance(log_probs, ray.ObjectRef):
        log_probs = ray.put(list(log_probs))
    n = _checked_count(log_probs, vocab)
    kwargs.pop("limit", None)
    coarse = tune_grid(log_probs, refs, vocab, lm_path, spec.coarse, limit=spec.stage1_size(max(n, 1)),
                       out_dir=os.path.join(out_dir, "stage1_coarse") if out_dir else None, label="[coarse]",
                       **kwargs)
    fine_grid = spec.coarse.refine(coarse.best_alpha, coarse.best_beta, spec.fine_alphas, spec.fine_betas)
    fine = tune_grid(log_probs, refs, vocab, lm_path, fine_grid,
                     out_dir=os.path.join(out_dir, "stage2_fine") if out_dir else None, label="[fine]", **kwargs)
    if out_dir:
        shutil.copyfile(os.path.join(out_dir, "stage2_fine", "best.json"), os.path.join(out_dir, "best.json"))
        fine.files["final_best.json"] = os.path.join(out_dir, "best.json")
    return coarse, fine
