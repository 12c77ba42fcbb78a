"""Tuning the beam decoder's LM weight (alpha) and word bonus (beta) on a dev set: the library
function :func:`tune_lm_weights` (``ds2ray tune`` calls it) and the recipe's tune stage.

The acoustic model runs once; its log-probs go into the Ray object store once, and Ray Tune decodes
the dev set at every grid point on warm decoder actors (:mod:`ds2ray.tune.search`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from ds2ray.decode.base import DecoderConfig
from ds2ray.decode.tuned import read_tuned
from ds2ray.pipeline.experiment import Experiment, StageResult, is_done
from ds2ray.tune.grid import TuneGridConfig


@dataclass(frozen=True)
class TuneOutcome:
    """The tuning result (the fine stage's with ``two_stage``) and the ``best.json`` it wrote."""

    result: Any  # ds2ray.tune.results.TuneResult
    best_json: str


def tune_lm_weights(checkpoint: str, entries: Sequence[Any], grid: TuneGridConfig, decoder: DecoderConfig,
                    out_dir: str, *, num_workers: int = 2, acoustic_workers: int = 2, use_gpu: bool = False,
                    engine: str = "tune", error_rate_type: str | None = None,
                    two_stage: tuple[int, int] | None = None) -> TuneOutcome:
    """Tune on ``entries`` (the first ``grid.num_utterances`` of them, or with ``two_stage`` =
    ``(fine_alphas, fine_betas)`` the coarse grid on those and a fine grid on all).

    ``decoder``: the beam settings kept at every point; its ``lm_path`` is the LM whose weight is
    tuned (``None``: the LM of a shipped ``checkpoint``). ``num_workers``: Ray Tune decoder actors;
    ``acoustic_workers``: Ray actors running the acoustic model (0: in this process). Writes
    ``points.csv/json``, ``best.json`` and ``error_surface.png`` to ``out_dir``.
    """
    from ds2ray.decode.beam import validate_lm_for_vocab
    from ds2ray.evaluate import compute_log_probs
    from ds2ray.model.checkpoint import load_checkpoint
    from ds2ray.tune.grid import TwoStageSpec

    entries = list(entries)
    subset = grid.num_utterances
    if subset and two_stage is None:
        entries = entries[:subset]  # the acoustic model only needs to see what is tuned on
    if decoder.lm_path is None:
        from ds2ray.pretrained import decoder_defaults

        shipped = decoder_defaults(checkpoint)
        if shipped is None:
            raise ValueError("give the language model to tune with --lm (only a shipped model, e.g. --checkpoint en, "
                             "brings its own)")
        decoder = decoder.replace(lm_path=shipped.lm_path)
    decoder = decoder.replace(type="beam")
    vocab = load_checkpoint(checkpoint).vocab
    validate_lm_for_vocab(decoder, vocab)  # a missing or mismatched LM fails before the acoustic model runs
    if engine == "tune" or acoustic_workers > 0:
        from ds2ray.raycluster import connect

        connect(log_to_driver=False, include_dashboard=False)
    print(f"acoustic model: {checkpoint} on {len(entries)} utterances "
          f"({sum(e.duration for e in entries) / 60:.1f} min)", flush=True)
    log_probs = compute_log_probs(checkpoint, entries, num_workers=acoustic_workers, use_gpu=use_gpu)
    if engine == "tune":
        import ray

        log_probs = ray.put(log_probs)  # once, for every trial (and both stages)
    common = dict(num_workers=num_workers, decoder=decoder, error_rate_type=error_rate_type, engine=engine)
    os.makedirs(out_dir, exist_ok=True)
    if two_stage is not None:
        from ds2ray.tune.search import tune_two_stage

        spec = TwoStageSpec(grid.grid, subset, *two_stage)
        _, result = tune_two_stage(log_probs, entries, vocab, decoder.lm_path, spec, out_dir=out_dir, **common)
        return TuneOutcome(result, os.path.join(out_dir, "best.json"))
    from ds2ray.tune.search import tune_grid

    result = tune_grid(log_probs, entries, vocab, decoder.lm_path, grid.grid, out_dir=out_dir, **common)
    return TuneOutcome(result, result.files["best.json"])


def tune(exp: Experiment, *, force: bool = False) -> StageResult:
    """The ``tune`` grid on the dev splits with the ``decoder`` section's beam; the best point lands
    in ``<exp>/tune/best.json``, which the test and infer stages then use. Skipped when it exists,
    when the recipe builds no LM (alpha and beta weigh the LM) or has no dev split."""
    from ds2ray.data.manifest import read_manifest

    recipe = exp.recipe
    if exp.lm is None or not exp.lm.exists():
        return StageResult("skipped: no language model (lm.order is 0 or the lm stage has not run)", skipped=True)
    if not recipe.data.dev:
        return StageResult("skipped: the recipe has no dev split to tune on (data.dev is empty)", skipped=True)
    if is_done(exp.best_json, force):
        return StageResult(f"exists ({exp.best_json})", skipped=True)
    entries = list(read_manifest(exp.manifests(recipe.data.dev)))
    if not entries:
        raise ValueError(f"the dev set is empty: no utterances in {', '.join(exp.manifests(recipe.data.dev))}")
    dec = recipe.decoder
    decoder = DecoderConfig(type="beam", lm_path=str(exp.lm), beam_width=dec.beam_width,
                            beam_prune_logp=dec.beam_prune_logp, token_min_logp=dec.token_min_logp)
    outcome = tune_lm_weights(exp.checkpoint(), entries, recipe.tune, decoder, str(exp.tune_dir),
                              acoustic_workers=recipe.test.num_workers, use_gpu=recipe.test.use_gpu,
                              error_rate_type=recipe.test.error_rate_type)
    best = read_tuned(str(exp.best_json))
    kind = recipe.test.error_rate_type
    return StageResult(f"best alpha {best['alpha']:.2f}, beta {best['beta']:.2f}: dev {kind.upper()} "
                       f"{best[kind]:.3f} (error surface {exp.tune_dir / 'error_surface.png'}; {outcome.best_json})")
