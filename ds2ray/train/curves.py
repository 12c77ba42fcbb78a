"""Training curves of a run as one PNG, from the CSV files :class:`~ds2ray.train.metrics_log.MetricsLog` writes.

Four panels, step on the left and training minutes on the right (``elapsed_s``, summed over
restarts, so a resumed run continues where it stopped):

- train loss: every logged window (faint), a moving average over it, each epoch's mean train loss
  and the dev loss (markers);
- dev CER and WER at each epoch end, the best marked in the legend.

A run without a dev set, or with a single epoch, still plots: the dev panels say what is missing,
and single points are drawn as markers. Epoch ends are dotted vertical lines. Drawn with
matplotlib's Agg backend (no display needed); the PNG is written atomically.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ds2ray import fileio
from ds2ray.train.metrics_log import EPOCHS_CSV, STEPS_CSV

#: name of the PNG written into the run folder when no ``out`` is given.
CURVES_PNG = "curves.png"
#: columns ``steps.csv`` must have to be plotted.
REQUIRED_STEP_COLUMNS = ("step", "loss", "elapsed_s")

Table = dict[str, list[float]]


def find_logs(run_dir: str | Path) -> Path:
    """The folder holding ``steps.csv``: ``<run_dir>/logs``, or ``run_dir`` itself if it is that folder."""
    run_dir = Path(run_dir).expanduser()
    if fileio.is_url(str(run_dir)):
        raise ValueError(f"{run_dir}: curves read a local run folder; copy <run>/logs from storage first")
    for candidate in (run_dir / "logs", run_dir):
        if (candidate / STEPS_CSV).is_file():
            return candidate
    raise FileNotFoundError(
        f"{run_dir / 'logs' / STEPS_CSV} not found: pass the run folder that `ds2ray train` wrote "
        f"(<storage_path>/<run_name>, with logs/{STEPS_CSV} and logs/{EPOCHS_CSV})")


def read_table(path: Path, required: tuple[str, ...] = ()) -> Table:
    """Columns of a MetricsLog CSV as floats (text such as ``stopped`` reasons becomes NaN), rows by step."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    if rows:
        missing = [c for c in required if c not in columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; has {columns} (expected a ds2ray training log)")
    table: Table = {c: [_float(r.get(c)) for r in rows] for c in columns}
    if table.get("step"):
        order = sorted(range(len(rows)), key=lambda i: table["step"][i])
        table = {c: [v[i] for i in order] for c, v in table.items()}
    return table


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _has(table: Table, column: str) -> bool:
    return any(math.isfinite(v) for v in table.get(column, []))


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` finite values (NaNs skipped; NaN where none yet)."""
    out, buf = [], []
    for v in values:
        if math.isfinite(v):
            buf.append(v)
            if len(buf) > window:
                buf.pop(0)
        out.append(sum(buf) / len(buf) if buf else math.nan)
    return out


def plot_training_curves(run_dir: str | Path, out: str | Path | None = None, title: str | None = None) -> Path:
    """Draw the run's training curves (2x2: loss and dev CER/WER, over step and over minutes).

    ``run_dir``: the run folder (``<storage_path>/<run_name>``) or its ``logs`` folder.
    ``out``: the PNG to write (default ``<run_dir>/curves.png``). Returns the PNG's path.
    Raises FileNotFoundError naming the CSV when the logs are missing, ValueError when they hold
    no steps or lack the columns.
    """
    logs = find_logs(run_dir)
    steps_path, epochs_path = logs / STEPS_CSV, logs / EPOCHS_CSV
    steps = read_table(steps_path, REQUIRED_STEP_COLUMNS)
    epochs = read_table(epochs_path, ("step",)) if epochs_path.is_file() else {}
    if not steps.get("step") and not epochs.get("step"):
        raise ValueError(f"{steps_path}: no steps logged yet (and no epochs in {epochs_path.name})")
    run_folder = logs.parent if logs.name == "logs" else logs
    out = Path(out) if out is not None else run_folder / CURVES_PNG

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex="col")
    step_x = steps.get("step", [])
    min_x = [s / 60 for s in steps.get("elapsed_s", [])]
    ep_step = epochs.get("step", [])
    ep_min = [s / 60 for s in epochs.get("elapsed_s", [math.nan] * len(ep_step))]
    has_dev = _has(epochs, "dev_cer") or _has(epochs, "dev_wer")
    for col, (xs, ep_xs, xlabel) in enumerate(((step_x, ep_step, "step"), (min_x, ep_min, "training minutes"))):
        _loss_panel(axes[0][col], xs, steps.get("loss", []), ep_xs, epochs)
        _dev_panel(axes[1][col], ep_xs, epochs, has_dev, dev_note=_no_dev_reason(epochs))
        axes[1][col].set_xlabel(xlabel)
        if col == 0:
            axes[1][col].xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in (axes[0][col], axes[1][col]):
            for x in ep_xs:
                if math.isfinite(x):
                    ax.axvline(x, color="grey", linestyle=":", linewidth=0.8, zorder=0)
            ax.grid(True, alpha=0.3)
    fig.suptitle(title or _title(run_folder.name, steps, epochs), fontsize=11)
    fig.tight_layout()
    with fileio.atomic_write(out, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
    return out


def _loss_panel(ax, xs: list[float], loss: list[float], ep_xs: list[float], epochs: Table) -> None:
    few = len(xs) <= 30
    if xs:
        ax.plot(xs, loss, color="tab:blue", alpha=0.9 if few else 0.3, linewidth=1,
                marker="o" if few else None, markersize=3, label="train loss (logged window)")
        if not few:
            window = max(5, len(xs) // 30)
            ax.plot(xs, moving_average(loss, window), color="tab:blue", linewidth=2,
                    label=f"train loss, mean of {window} windows")
    if _has(epochs, "train_loss"):
        ax.plot(ep_xs, epochs["train_loss"], "s", color="navy", markersize=6, label="epoch mean train loss")
    if _has(epochs, "dev_loss"):
        ax.plot(ep_xs, epochs["dev_loss"], "D-", color="tab:orange", markersize=6, label="dev loss")
    values = [v for v in loss + epochs.get("train_loss", []) + epochs.get("dev_loss", []) if math.isfinite(v)]
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")
    ax.set_ylabel("CTC loss")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper right")


def _dev_panel(ax, ep_xs: list[float], epochs: Table, has_dev: bool, dev_note: str) -> None:
    ax.set_ylabel("dev error rate")
    if not has_dev:
        ax.text(0.5, 0.5, dev_note, ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_yticks([])
        return
    for column, color, name in (("dev_cer", "tab:green", "CER"), ("dev_wer", "tab:red", "WER")):
        if not _has(epochs, column):
            continue
        ys = epochs[column]
        finite = [(y, i) for i, y in enumerate(ys) if math.isfinite(y)]
        best, at = min(finite)
        label = f"dev {name}: last {finite[-1][0]:.3f}, best {best:.3f}"
        ax.plot(ep_xs, ys, "o-", color=color, markersize=5, label=label)
        ax.plot([ep_xs[at]], [best], "*", color=color, markersize=13, markeredgecolor="black", markeredgewidth=0.5)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="best")


def _no_dev_reason(epochs: Table) -> str:
    if not epochs.get("step"):
        return "no epoch finished yet:\nno dev metrics"
    return "no dev metrics\n(trained without a dev manifest)"


def _title(name: str, steps: Table, epochs: Table) -> str:
    last_step = int(max(steps.get("step", []) + epochs.get("step", [])))
    elapsed = [v for v in steps.get("elapsed_s", []) + epochs.get("elapsed_s", []) if math.isfinite(v)]
    parts = [name, f"{last_step} steps"]
    if elapsed:
        parts.append(f"{max(elapsed) / 60:.1f} min")
    if _has(epochs, "epoch"):
        parts.append(f"{int(max(v for v in epochs['epoch'] if math.isfinite(v)))} epoch(s)")
    for column, label in (("dev_cer", "CER"), ("dev_wer", "WER")):
        if _has(epochs, column):
            last = [v for v in epochs[column] if math.isfinite(v)][-1]
            parts.append(f"last dev {label} {last:.3f}")
    return ", ".join(parts)
