"""The train stage: Ray Train on the recipe's manifests, vocabulary and normaliser.

Runs on the cluster in ``RAY_ADDRESS`` (``ray job submit`` sets it), else on a local Ray. The
config's ``model`` is sized to the vocabulary and features; ``train.storage_path`` (relative:
under the experiment folder; or ``s3://``) keeps the checkpoints. Re-running resumes the run of
the same ``train.run_name``. When it finishes, the candidates (the last checkpoint, the lowest-dev-CER
one, the average of the last few: :mod:`ds2ray.train.select`) are decoded on the same dev
utterances, and ``<exp>/train.json`` records the best of them as ``checkpoint``, every candidate's
figures and the last metrics, and the stage is skipped from then on (``force`` resumes the run again,
e.g. after raising ``train.max_minutes``).
"""

from __future__ import annotations

import json
import os

from ds2ray.pipeline.experiment import Experiment, StageResult, is_done, write_json


def train(exp: Experiment, *, force: bool = False) -> StageResult:
    from ds2ray.data.normalizer import NormalizerStats
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.train.select import dev_entries, select_checkpoint
    from ds2ray.train.trainer import build_job, run_train

    if is_done(exp.train_json, force):
        done = json.loads(exp.train_json.read_text())
        return StageResult(f"done before: checkpoint {done.get('checkpoint')} (force resumes the run)", skipped=True)
    recipe = exp.recipe
    for path, stage in ((exp.vocab, "vocab"), (exp.mean_std, "mean-std")):
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run the {stage} stage first")
    missing = [m for m in exp.manifests(recipe.data.train + recipe.data.dev) if not os.path.exists(m)]
    if missing:
        raise FileNotFoundError(f"manifest(s) {missing} not found: run the prepare stage first")
    cfg = recipe.train.replace(train_manifests=tuple(exp.manifests(recipe.data.train)),
                               dev_manifests=tuple(exp.manifests(recipe.data.dev)),
                               storage_path=exp.storage_path)
    vocab, normalizer = Vocabulary.load(exp.vocab), NormalizerStats.load(exp.mean_std)
    if cfg.init_from:  # e.g. `en`: its weights learned with its own normaliser and vocabulary, so keep them
        from ds2ray.model.checkpoint import load_checkpoint

        start = load_checkpoint(cfg.init_from)
        if start.feature_config != recipe.features:
            raise ValueError(f"train.init_from {cfg.init_from}: its features {start.feature_config} differ from the "
                             f"recipe's {recipe.features}")
        vocab = start.vocab
        normalizer = start.normalizer or normalizer
    job = build_job(cfg, recipe.model, recipe.features, vocab, normalizer)
    result = run_train(job)
    if result.error is not None:
        raise RuntimeError(f"training run {cfg.run_name!r} ended with an error: {result.error}")
    if not result.checkpoint:
        raise RuntimeError(f"training run {cfg.run_name!r} reported no checkpoint")
    chosen = select_checkpoint({"last": result.checkpoint, "best": result.best, "averaged": result.averaged},
                               dev_entries(cfg.dev_manifests))
    write_json(exp.train_json, {"checkpoint": chosen.checkpoint, "selected": chosen.name,
                                "candidates": chosen.scores, "last_checkpoint": result.checkpoint,
                                "metrics": result.metrics, "run_dir": result.run_dir,
                                "num_workers": cfg.num_workers, "use_gpu": cfg.use_gpu})
    keys = ("epoch", "step", "train_loss", "dev_loss", "dev_cer", "dev_wer", "stopped")
    shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in result.metrics.items() if k in keys)
    picked = ", ".join(f"{n} {s['dev_cer']:.4f}" for n, s in chosen.scores.items() if "dev_cer" in s)
    picked = f" (dev CER: {picked})" if picked else ""
    return StageResult(f"checkpoint {chosen.checkpoint} [{chosen.name}{picked}]; last: {shown}; "
                       f"curves in {result.run_dir}/logs")
