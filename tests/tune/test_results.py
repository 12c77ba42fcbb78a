"""Choosing the best point (deterministic tie-break), the files, and the plot."""

from __future__ import annotations

import csv
import json
import random
from types import SimpleNamespace

import pytest

from ds2ray.metrics import ErrorCounts
from ds2ray.tune.grid import GridSpec
from ds2ray.tune.output import write_results
from ds2ray.tune.results import PointResult, TuneResult, select_best


def _pt(alpha: float, beta: float, word_err: int, char_err: int) -> PointResult:
    # 20 reference words and 100 characters at every point; hits fill the rest
    word, char = ErrorCounts(word_err, 0, 0, 20 - word_err), ErrorCounts(char_err, 0, 0, 100 - char_err)
    return PointResult(alpha, beta, word, char)


def test_best_is_the_lowest_error_count():
    pts = [_pt(1.0, 0.1, 5, 9), _pt(1.5, 0.1, 3, 20), _pt(2.0, 0.1, 4, 1)]
    assert (select_best(pts, "wer").alpha, select_best(pts, "cer").alpha) == (1.5, 2.0)


def test_ties_break_on_the_other_rate_then_smaller_alpha_then_smaller_beta():
    pts = [_pt(2.0, 0.3, 3, 10), _pt(1.0, 0.4, 3, 12), _pt(1.5, 0.2, 3, 10), _pt(1.5, 0.1, 3, 10), _pt(3.0, 0.1, 4, 0)]
    for _ in range(5):  # arrival order never matters
        random.shuffle(pts)
        best = select_best(pts, "wer")
        assert (best.alpha, best.beta) == (1.5, 0.1)
    with pytest.raises(ValueError, match="no grid points"):
        select_best([], "wer")
    with pytest.raises(ValueError, match="'wer' or 'cer'"):
        select_best(pts, "per")


def _result(points, kind="wer") -> TuneResult:
    grid = GridSpec(1.0, 2.0, 3, 0.1, 0.3, 3)
    return TuneResult(points, kind, grid.to_dict(), 7, {"type": "beam", "lm_path": "/abs/lm.bin", "beam_width": 16,
                                                        "unigrams": None, "alpha": 0.5, "beta": 1.5})


def test_files_and_best_json_read_by_test_command(tmp_path):
    from ds2ray.commands.test import decoder_config_from_args
    from ds2ray.decode.tuned import read_tuned

    grid = GridSpec(1.0, 2.0, 3, 0.1, 0.3, 3)
    pts = [_pt(a, b, abs(round(a * 10) - 15) + abs(round(b * 10) - 2), 5) for a, b in grid.points()]
    res = _result(pts)
    files = write_results(res, str(tmp_path / "out"))
    rows = list(csv.DictReader(open(files["points.csv"])))
    assert len(rows) == 9 and [float(rows[4]["alpha"]), float(rows[4]["beta"])] == [1.5, 0.2]
    assert int(rows[4]["word_errors"]) == 0 and float(rows[0]["wer"]) == pytest.approx(6 / 20)
    assert len(json.load(open(files["points.json"]))["points"]) == 9
    best = read_tuned(files["best.json"])
    assert (best["alpha"], best["beta"], best["lm_path"], best["beam_width"]) == (1.5, 0.2, "/abs/lm.bin", 16)
    assert "unigrams" not in best and best["error_rate_type"] == "wer" and best["wer"] == 0.0
    args = SimpleNamespace(tuned=files["best.json"], alpha=None, beta=None, beam_size=None, lm=None, unigrams=None,
                           beam_prune_logp=None, token_min_logp=None, decoder=None)
    cfg = decoder_config_from_args(args)
    assert (cfg.type, cfg.alpha, cfg.beta, cfg.lm_path, cfg.beam_width) == ("beam", 1.5, 0.2, "/abs/lm.bin", 16)
    assert not (tmp_path / "out" / "points.partial.csv").exists()


def _png_size(path) -> tuple[int, int]:
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_surface_png_for_a_grid_and_for_a_single_row(tmp_path):
    from ds2ray.tune.surface import error_matrix, plot_error_surface

    grid = GridSpec(1.0, 2.0, 3, 0.1, 0.3, 3)
    pts = [_pt(a, b, int(a * 4 + b * 10), 5) for a, b in grid.points()]
    res = _result(pts)
    alphas, betas, errs = error_matrix(res)
    assert errs.shape == (3, 3) and errs[0, 0] == res.points[0].wer
    w, h = _png_size(plot_error_surface(res, str(tmp_path / "s.png")))
    assert w > 800 and h > 400
    row = _result([_pt(1.0, b, i, 5) for i, b in enumerate((0.1, 0.2, 0.3))])
    assert _png_size(plot_error_surface(row, str(tmp_path / "row.png")))[0] > 400
