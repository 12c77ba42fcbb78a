"""The Ray Tune grid against the plain loop on a real KenLM + synthetic peaky log-probs; two stages;
clear errors for a missing LM and an empty dev set."""

from __future__ import annotations

import json

import pytest

from ds2ray.decode import DecoderConfig
from ds2ray.tune.grid import GridSpec, TwoStageSpec
from ds2ray.tune.results import rank_key

DECODER = DecoderConfig(type="beam", beam_width=16)
GRID = GridSpec(0.0, 1.0, 3, 0.0, 3.0, 3)


def _counts(result):
    return [(p.alpha, p.beta, p.word, p.char) for p in result.points]


def test_ray_tune_matches_the_plain_loop_at_every_point(tune_data, ray_session, tmp_path):
    from ds2ray.tune.search import tune_grid

    d = tune_data
    lines: list[str] = []
    plain = tune_grid(d.log_probs, d.refs, d.vocab, d.lm_path, GRID, engine="plain", decoder=DECODER, report=None)
    ref = ray_session.put(d.log_probs)  # put once by the caller, as `ds2ray tune` does
    tuned = tune_grid(ref, d.refs, d.vocab, d.lm_path, GRID, engine="tune", num_workers=2, decoder=DECODER,
                      out_dir=str(tmp_path), report=lines.append)
    assert _counts(tuned) == _counts(plain)  # exact error counts at every point
    assert len({p.word.errors for p in plain.points}) >= 3, "alpha/beta must matter for this test to mean much"
    # one decoder (one LM load) per worker process, every trial after the first on an actor reused it
    assert tuned.stats == {"decoder_workers": 2, "worker_processes": 2, "decoders_built": 2}
    # the best point is the minimum of the table, and best.json holds it with the decoder settings
    assert min(tuned.points, key=lambda p: rank_key(p, "wer")) == tuned.best
    assert (tuned.best_alpha, tuned.best_beta) == (plain.best_alpha, plain.best_beta)
    assert tuned.best.word.errors == min(p.word.errors for p in tuned.points)
    best = json.load(open(tmp_path / "best.json"))
    assert (best["alpha"], best["beta"], best["wer"]) == (tuned.best_alpha, tuned.best_beta, tuned.best.wer)
    assert best["lm_path"] == d.lm_path and best["beam_width"] == 16 and best["error_rate_type"] == "wer"
    assert len((tmp_path / "points.csv").read_text().splitlines()) == 1 + GRID.size
    assert (tmp_path / "error_surface.png").stat().st_size > 10_000
    # a line per point as results arrived, with WER, CER, progress and an ETA
    point_lines = [line for line in lines if "ETA" in line]
    assert len(point_lines) == GRID.size
    assert point_lines[0].startswith("[1/9  11.1%]") and "WER" in point_lines[0] and "CER" in point_lines[0]
    assert point_lines[-1].startswith("[9/9 100.0%]")


def test_two_stage_coarse_on_a_subset_then_fine_around_its_best(tune_data, tmp_path):
    from ds2ray.tune.search import tune_two_stage

    d = tune_data
    spec = TwoStageSpec(GRID, coarse_utterances=4, fine_alphas=3, fine_betas=2)
    coarse, fine = tune_two_stage(d.log_probs, d.refs, d.vocab, d.lm_path, spec, out_dir=str(tmp_path),
                                  engine="plain", decoder=DECODER, report=None)
    assert (coarse.num_utterances, fine.num_utterances) == (4, len(d.refs))
    grid = GridSpec.from_dict(fine.grid)
    assert (grid.num_alphas, grid.num_betas) == (3, 2)
    assert grid.alpha_from <= coarse.best_alpha <= grid.alpha_to and grid.beta_from <= coarse.best_beta <= grid.beta_to
    assert json.load(open(tmp_path / "best.json"))["alpha"] == fine.best_alpha
    assert json.load(open(tmp_path / "stage1_coarse" / "best.json"))["num_utterances"] == 4
    assert (tmp_path / "stage2_fine" / "error_surface.png").exists()


def test_missing_lm_is_a_clear_error_before_any_work(tune_data, tmp_path):
    from ds2ray.lm.load import LanguageModelNotFoundError
    from ds2ray.tune.search import tune_grid

    d = tune_data
    missing = str(tmp_path / "nowhere" / "lm.bin")
    with pytest.raises(LanguageModelNotFoundError, match=r"not found: .*nowhere/lm.bin.*ds2ray lm build"):
        tune_grid(d.log_probs, d.refs, d.vocab, missing, GRID, report=None)
    with pytest.raises(ValueError, match="needs a language model"):
        tune_grid(d.log_probs, d.refs, d.vocab, "", GRID, report=None)


def test_empty_dev_set_and_bad_inputs_are_clear_errors(tune_data):
    from ds2ray.decode.base import VocabularyMismatchError
    from ds2ray.tune.search import tune_grid

    d = tune_data
    with pytest.raises(ValueError, match="the dev set is empty"):
        tune_grid([], [], d.vocab, d.lm_path, GRID, report=None)
    with pytest.raises(ValueError, match="10 log-prob matrices but 3 reference"):
        tune_grid(d.log_probs, d.refs[:3], d.vocab, d.lm_path, GRID, report=None)
    with pytest.raises(VocabularyMismatchError, match="log-probs of dev utterance 2 have 5 classes"):
        tune_grid([*d.log_probs[:2], d.log_probs[2][:, :5]], d.refs[:3], d.vocab, d.lm_path, GRID, report=None)
