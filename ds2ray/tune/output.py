"""The files of a finished grid, in its output folder (:func:`write_results`):

- ``points.csv`` / ``points.json``: every point (alpha-major order) with WER, CER and their counts;
- ``best.json``: the best ``alpha`` and ``beta`` plus the decoder settings they were tuned with
  (``lm_path``, ``beam_width``, ...): the ``--tuned`` file of ``ds2ray test``, ``infer`` and ``serve``;
- ``error_surface.png`` (:mod:`ds2ray.tune.surface`), unless ``plot=False``.

``points.partial.csv`` (written point by point by :class:`~ds2ray.tune.results.Progress`) is removed
once these exist.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Sequence

from ds2ray import fileio
from ds2ray.tune.results import CSV_FIELDS, PARTIAL_CSV, PointResult, TuneResult


def _atomic_text(path: str, text: str) -> None:
    with fileio.atomic_write(path, "wb") as fh:
        fh.write(text.encode("utf-8"))


def csv_text(points: Sequence[PointResult]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for p in points:
        writer.writerow(p.to_row())
    return buf.getvalue()


def write_results(result: TuneResult, out_dir: str, *, plot: bool = True) -> dict[str, str]:
    """``points.csv``, ``points.json``, ``best.json`` and (``plot``) ``error_surface.png`` in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    files = {name: os.path.join(out_dir, name) for name in ("points.csv", "points.json", "best.json")}
    _atomic_text(files["points.csv"], csv_text(result.points))
    _atomic_text(files["points.json"], json.dumps(result.to_dict(), indent=1) + "\n")
    _atomic_text(files["best.json"], json.dumps(result.best_json(), indent=2) + "\n")
    partial = os.path.join(out_dir, PARTIAL_CSV)
    if os.path.exists(partial):
        os.remove(partial)
    if plot:
        from ds2ray.tune.surface import plot_error_surface  # imports matplotlib

        files["error_surface.png"] = plot_error_surface(result, os.path.join(out_dir, "error_surface.png"))
    result.files = files
    return files
