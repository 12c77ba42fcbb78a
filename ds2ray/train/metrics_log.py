"""Rank-0 training logs: progress lines, CSV files and TensorBoard, under ``<run dir>/logs``.

Two CSV files: ``steps.csv`` (one row per logged step) and ``epochs.csv`` (one row per epoch or
stop, with dev metrics). On resume, rows after the restored step are dropped first, so the files
tell the history of the model that exists, with no step twice. For URL storage (``s3://``) the
files are written locally and copied to ``<storage>/<run>/logs`` at every epoch.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tempfile
from typing import Any

from ds2ray import fileio

log = logging.getLogger(__name__)

STEPS_CSV = "steps.csv"
EPOCHS_CSV = "epochs.csv"


def run_dir(storage_path: str, run_name: str) -> str:
    """The run's folder in storage (where Ray Train keeps its checkpoints)."""
    if fileio.is_url(storage_path):
        return f"{storage_path.rstrip('/')}/{run_name}"
    return os.path.join(os.path.abspath(os.path.expanduser(storage_path)), run_name)


class CsvLog:
    """Append-only CSV whose columns come from the first row (later new keys widen the file)."""

    def __init__(self, path: str, keep_up_to_step: int | None) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if keep_up_to_step and os.path.exists(path):
            with open(path, newline="") as fh:
                self.rows = [r for r in csv.DictReader(fh) if int(float(r["step"])) <= keep_up_to_step]
        self.columns: list[str] = list(self.rows[0].keys()) if self.rows else []
        self._rewrite()

    def _rewrite(self) -> None:
        with fileio.atomic_write(self.path, "w") as fh:
            if self.columns:
                writer = csv.DictWriter(fh, self.columns)
                writer.writeheader()
                writer.writerows(self.rows)

    def append(self, row: dict[str, Any]) -> None:
        row = {k: _fmt(v) for k, v in row.items()}
        self.rows.append(row)
        if not self.columns or any(k not in self.columns for k in row):
            self.columns += [k for k in row if k not in self.columns]
            self._rewrite()
            return
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, self.columns).writerow(row)


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


class MetricsLog:
    """Progress, CSV and TensorBoard for rank 0. ``resume_step``: the restored global step (0 = fresh)."""

    def __init__(self, storage_path: str, run_name: str, resume_step: int = 0, tensorboard: bool = True) -> None:
        self.remote = run_dir(storage_path, run_name) + "/logs" if fileio.is_url(storage_path) else None
        if self.remote:
            self.dir = os.path.join(tempfile.gettempdir(), "ds2ray_runs", run_name, "logs")
        else:
            self.dir = os.path.join(run_dir(storage_path, run_name), "logs")
        os.makedirs(self.dir, exist_ok=True)
        if self.remote and resume_step:
            self._fetch()  # resuming on another machine: continue the stored history
        self.steps = CsvLog(os.path.join(self.dir, STEPS_CSV), resume_step)
        self.epochs = CsvLog(os.path.join(self.dir, EPOCHS_CSV), resume_step)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(os.path.join(self.dir, "tb"), purge_step=resume_step + 1 if resume_step else None)
            except ImportError:  # tensorboard is a dependency; keep training if it is broken
                log.warning("tensorboard not importable: no TensorBoard logs")

    def step(self, step: int, metrics: dict[str, Any]) -> None:
        self.steps.append({"step": step, **metrics})
        self._scalars("train", step, metrics)

    def epoch(self, step: int, metrics: dict[str, Any]) -> None:
        self.epochs.append({"step": step, **metrics})
        self._scalars("epoch", step, metrics)
        if self.writer is not None:
            self.writer.flush()
        self.sync()

    def _scalars(self, prefix: str, step: int, metrics: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and k not in ("epoch", "step"):
                self.writer.add_scalar(f"{prefix}/{k}", v, step)

    def _fetch(self) -> None:
        for name in (STEPS_CSV, EPOCHS_CSV):
            url = f"{self.remote}/{name}"
            if fileio.exists(url):
                with fileio.open_file(url, "rb") as fin, fileio.atomic_write(os.path.join(self.dir, name), "wb") as fout:
                    shutil.copyfileobj(fin, fout)

    def sync(self) -> None:
        """Copy the CSV files to URL storage (no-op for local storage)."""
        if not self.remote:
            return
        for name in (STEPS_CSV, EPOCHS_CSV):
            src = os.path.join(self.dir, name)
            if os.path.exists(src):
                with open(src, "rb") as fin, fileio.open_file(f"{self.remote}/{name}", "wb") as fout:
                    shutil.copyfileobj(fin, fout)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.sync()


def format_progress(epoch: int, epochs: int, step: int, total_steps: int, loss: float, lr: float,
                    audio_per_s: float, eta_s: float, *, budget_s: float | None = None,
                    elapsed_s: float | None = None) -> str:
    """One progress line. With a time budget (``budget_s`` > 0, e.g. ``--max-minutes``) and the training
    time so far (``elapsed_s``), progress is shown against whichever limit ends the run first, as
    :func:`ds2ray.train.schedule.progress` counts it: a 9-minute run with a long step plan reads
    ``step 580 · 4.5/9.0 min (50%)``, not ``step 580/18879 (3.1%)``. ``eta_s``: time left (the caller
    takes the smaller of the step plan's and the budget's)."""
    step_frac = step / max(1, total_steps)
    if budget_s and budget_s > 0 and elapsed_s is not None:
        time_frac = max(0.0, elapsed_s) / budget_s
        minutes = f"{max(0.0, elapsed_s) / 60:.1f}/{budget_s / 60:.1f} min"
        if time_frac >= step_frac:  # the budget ends the run
            where = f"step {step} · {minutes} ({100 * min(1.0, time_frac):.0f}%)"
        else:  # the step plan ends it before the budget
            where = f"step {step}/{total_steps} ({100 * step_frac:.1f}%) · {minutes}"
    else:
        where = f"step {step}/{total_steps} ({100 * step_frac:.1f}%)"
    return (f"epoch {epoch + 1}/{epochs} {where} loss {loss:.3f} lr {lr:.2e} "
            f"{audio_per_s:.1f} audio-s/s ETA {format_seconds(eta_s)}")


def format_seconds(s: float) -> str:
    s = max(0, int(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
