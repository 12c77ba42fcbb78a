"""Grid results: one :class:`PointResult` per (alpha, beta), the best point, progress lines, files.

Choosing the best point (:func:`select_best`) compares integer error counts, not float rates, so
equal rates are exact ties. Ties are broken, in order, by: fewer errors of the other kind (CER when
tuning on WER and vice versa), the smaller ``alpha`` (the weaker LM), the smaller ``beta``. The
result never depends on the order in which points finished.

What goes into the files (:func:`ds2ray.tune.output.write_results` writes them): every point's row
(:meth:`PointResult.to_row`, :data:`CSV_FIELDS`), the whole result (:meth:`TuneResult.to_dict`) and
``best.json`` (:meth:`TuneResult.best_json`): the best ``alpha`` and ``beta`` plus the decoder settings
they were tuned with (``lm_path``, ``beam_width``, ...), the ``--tuned`` file of ``ds2ray test``,
``infer`` and ``serve``.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ds2ray.metrics import ErrorCounts, WordCharRates

TIE_BREAK = ("lowest error count of the tuned rate; then fewest errors of the other rate (CER when tuning on "
             "WER, WER when tuning on CER); then the smaller alpha; then the smaller beta")

CSV_FIELDS = ("alpha", "beta", "wer", "cer", "word_errors", "words", "char_errors", "chars", "decode_s", "cpu_s")


@dataclass(frozen=True)
class PointResult(WordCharRates):
    """Word and character error counts of the dev set decoded at one (alpha, beta)."""

    alpha: float
    beta: float
    word: ErrorCounts
    char: ErrorCounts
    decode_s: float = 0.0  # wall seconds this point's decode and scoring took on its worker
    cpu_s: float = 0.0  # CPU seconds of the worker process for it

    def counts(self, kind: str) -> ErrorCounts:
        return self.word if kind == "wer" else self.char

    def rate(self, kind: str) -> float:
        return self.counts(kind).rate

    def to_row(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "wer": round(self.wer, 6), "cer": round(self.cer, 6),
                "word_errors": self.word.errors, "words": self.word.ref_len, "char_errors": self.char.errors,
                "chars": self.char.ref_len, "decode_s": round(self.decode_s, 4), "cpu_s": round(self.cpu_s, 4)}

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "wer": self.wer, "cer": self.cer,
                "word_errors": self.word.to_dict(), "char_errors": self.char.to_dict(), "decode_s": self.decode_s,
                "cpu_s": self.cpu_s}

    @classmethod
    def from_metrics(cls, m: dict[str, Any]) -> "PointResult":
        """From the flat dict a tuning worker reports (see :func:`point_metrics`)."""
        word = ErrorCounts(*(int(m[f"word_{k}"]) for k in ("substitutions", "deletions", "insertions", "hits")))
        char = ErrorCounts(*(int(m[f"char_{k}"]) for k in ("substitutions", "deletions", "insertions", "hits")))
        return cls(float(m["alpha"]), float(m["beta"]), word, char, float(m.get("decode_s", 0.0)),
                   float(m.get("cpu_s", 0.0)))


def point_metrics(p: PointResult) -> dict[str, Any]:
    """Flat, small dict of a point (what a Ray Tune trial reports): rates plus the exact counts."""
    out: dict[str, Any] = {"alpha": p.alpha, "beta": p.beta, "wer": p.wer, "cer": p.cer, "decode_s": p.decode_s,
                           "cpu_s": p.cpu_s}
    for prefix, c in (("word", p.word), ("char", p.char)):
        for k in ("substitutions", "deletions", "insertions", "hits"):
            out[f"{prefix}_{k}"] = getattr(c, k)
    return out


def _other(kind: str) -> str:
    return "cer" if kind == "wer" else "wer"


def rank_key(p: PointResult, kind: str) -> tuple:
    """Smaller is better: see the module docstring (:data:`TIE_BREAK`)."""
    return (p.counts(kind).errors, p.counts(_other(kind)).errors, p.alpha, p.beta)


def select_best(points: Sequence[PointResult], kind: str) -> PointResult:
    """The best point for ``kind`` (``"wer"`` or ``"cer"``), ties broken by :data:`TIE_BREAK`."""
    if kind not in ("wer", "cer"):
        raise ValueError(f"error rate type must be 'wer' or 'cer', got {kind!r}")
    if not points:
        raise ValueError("no grid points to choose from")
    return min(points, key=lambda p: rank_key(p, kind))


@dataclass
class TuneResult:
    """All points of one grid (alpha-major order), the best one, and where the files went."""

    points: list[PointResult]
    error_rate_type: str
    grid: dict[str, Any]
    num_utterances: int
    decoder: dict[str, Any] = field(default_factory=dict)  # DecoderConfig fields (alpha/beta: the best)
    engine: str = "tune"
    num_workers: int = 1
    elapsed_s: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)  # engine facts: workers, processes, decoders built
    files: dict[str, str] = field(default_factory=dict)

    @property
    def best(self) -> PointResult:
        return select_best(self.points, self.error_rate_type)

    @property
    def best_alpha(self) -> float:
        return self.best.alpha

    @property
    def best_beta(self) -> float:
        return self.best.beta

    @property
    def table(self) -> list[dict[str, Any]]:
        return [p.to_row() for p in self.points]

    def best_json(self) -> dict[str, Any]:
        """``best.json``: what ``--tuned`` readers need (``alpha``, ``beta``, decoder settings) and context."""
        b = self.best
        keep = ("lm_path", "unigrams", "beam_width", "beam_prune_logp", "token_min_logp", "unk_score_offset")
        decoder = {k: self.decoder[k] for k in keep if self.decoder.get(k) is not None}
        return {"alpha": b.alpha, "beta": b.beta, **decoder, "error_rate_type": self.error_rate_type,
                "error_rate": b.rate(self.error_rate_type), "wer": b.wer, "cer": b.cer,
                "num_utterances": self.num_utterances, "grid": self.grid, "tie_break": TIE_BREAK}

    def to_dict(self) -> dict[str, Any]:
        return {"error_rate_type": self.error_rate_type, "grid": self.grid, "num_utterances": self.num_utterances,
                "decoder": self.decoder, "engine": self.engine, "num_workers": self.num_workers,
                "elapsed_s": round(self.elapsed_s, 3), "stats": self.stats, "best": self.best.to_dict(),
                "tie_break": TIE_BREAK, "points": [p.to_dict() for p in self.points]}

    def summary(self) -> str:
        b, kind = self.best, self.error_rate_type
        return (f"best: alpha {b.alpha:g}, beta {b.beta:g} -> {kind.upper()} {b.rate(kind):.4f} "
                f"(WER {b.wer:.4f}, CER {b.cer:.4f}) over {len(self.points)} points, {self.num_utterances} utterances, "
                f"{self.elapsed_s:.1f} s")


#: Points are appended here as they arrive (a killed run keeps them); removed when the run ends.
PARTIAL_CSV = "points.partial.csv"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Prints one line per finished point, with the running best, elapsed time and an ETA, and
    appends the point to ``points.partial.csv`` in ``out_dir`` (when given)."""

    def __init__(self, total: int, kind: str, *, report: Callable[[str], None] | None = print,
                 out_dir: str | None = None, label: str = "") -> None:
        self.total = total
        self.kind = kind
        self.report = report
        self.label = f"{label} " if label else ""
        self.points: list[PointResult] = []
        self.start = self.first = time.perf_counter()
        self.partial_csv = os.path.join(out_dir, PARTIAL_CSV) if out_dir else None
        if self.partial_csv:
            os.makedirs(out_dir, exist_ok=True)  # type: ignore[arg-type]
            with open(self.partial_csv, "w", encoding="utf-8", newline="") as fh:
                csv.DictWriter(fh, fieldnames=CSV_FIELDS, lineterminator="\n").writeheader()

    def add(self, p: PointResult) -> None:
        self.points.append(p)
        if self.partial_csv:
            with open(self.partial_csv, "a", encoding="utf-8", newline="") as fh:
                csv.DictWriter(fh, fieldnames=CSV_FIELDS, lineterminator="\n").writerow(p.to_row())
        if self.report is None:
            return
        now = time.perf_counter()
        done, elapsed = len(self.points), now - self.start
        if done == 1:
            self.first = now
        # The first point also pays for starting workers and loading the LM: time the rest from it.
        per_point = (now - self.first) / (done - 1) if done > 1 else elapsed
        eta = per_point * (self.total - done)
        best = select_best(self.points, self.kind)
        width = len(str(self.total))
        self.report(f"{self.label}[{done:>{width}}/{self.total} {100 * done / self.total:5.1f}%] "
                    f"alpha {p.alpha:<8g} beta {p.beta:<8g} WER {p.wer:.4f}  CER {p.cer:.4f} | "
                    f"best {self.kind.upper()} {best.rate(self.kind):.4f} at ({best.alpha:g}, {best.beta:g}) | "
                    f"elapsed {_clock(elapsed)}  ETA {_clock(eta)}")


def in_grid_order(points: Sequence[PointResult], grid_points: Sequence[tuple[float, float]]) -> list[PointResult]:
    """``points`` sorted like ``grid_points``; raises if any grid point is missing."""
    by_key = {(p.alpha, p.beta): p for p in points}
    missing = [ab for ab in grid_points if ab not in by_key]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(grid_points)} grid points have no result (e.g. {missing[:3]})")
    return [by_key[ab] for ab in grid_points]
