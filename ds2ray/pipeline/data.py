"""The data stages of a recipe: manifests, normaliser statistics, vocabulary, language model.

- :func:`prepare`: the corpus builder of ``data.corpus`` (:func:`ds2ray.data.corpora.get_corpus`)
  with ``data.options`` into ``<exp>/data``; ``data/prepared.json`` records the settings, and a
  re-run with the same settings and every manifest present is skipped;
- :func:`mean_std`: feature mean/std over ``data.mean_std_samples`` training utterances;
- :func:`vocab`: the character vocabulary of the training transcripts;
- :func:`lm`: an n-gram LM of the transcripts of ``lm.splits`` plus the files of ``lm.texts``
  (when ``lm.order`` > 0; ``{exp}`` in a path is the experiment folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ds2ray.config import ConfigError
from ds2ray.pipeline.experiment import Experiment, StageResult, is_done, write_json


def corpus_options(corpus: str, options: dict[str, Any]) -> tuple[Any, Any]:
    """``(Corpus, its options dataclass)`` for ``data.corpus`` and ``data.options``; a bad name or
    option raises :class:`ConfigError` naming the config field."""
    from ds2ray.data.corpora import get_corpus

    try:
        builder = get_corpus(corpus)
    except (KeyError, ValueError) as err:
        raise ConfigError(f"data.corpus: {err}") from err
    try:
        return builder, builder.options.from_dict(options)
    except (ConfigError, TypeError, ValueError) as err:
        raise ConfigError(f"data.options (corpus {corpus!r}): {err}") from err


def data_summary(exp: Experiment) -> str:
    """Utterances and hours of each split the recipe uses."""
    from ds2ray.data.manifest import read_manifest

    data = exp.recipe.data
    parts = []
    for split in dict.fromkeys(data.train + data.dev + data.test):
        path = exp.manifest(split)
        if path.exists():
            m = read_manifest(str(path))
            parts.append(f"{split} {len(m)} utt / {m.total_duration / 3600:.2f} h")
        else:
            parts.append(f"{split} missing")
    return ", ".join(parts)


def prepare(exp: Experiment, *, force: bool = False, source: str | None = None) -> StageResult:
    """Build the manifests. ``source`` (e.g. ``--data DIR``) overrides ``data.source``."""
    data = exp.recipe.data
    builder, options = corpus_options(data.corpus, data.options)
    where = source or (exp.resolve(data.source) if data.source else None)
    marker = exp.data_dir / "prepared.json"
    settings = {"corpus": data.corpus, "options": options.to_dict()}
    splits = dict.fromkeys(data.train + data.dev + data.test)
    finished = all(exp.manifest(s).exists() for s in splits) and is_done(marker, force)
    if finished and json.loads(marker.read_text()).get("settings") == json.loads(json.dumps(settings)):
        return StageResult("manifests exist; " + data_summary(exp), skipped=True)
    exp.data_dir.mkdir(parents=True, exist_ok=True)
    manifests = builder.prepare(exp.data_dir, Path(where) if where else None, options, overwrite=force)
    missing = [s for s in splits if not exp.manifest(s).exists()]
    if missing:
        raise RuntimeError(f"corpus {data.corpus!r} wrote no manifest for split(s) {missing} (it wrote "
                           f"{sorted(manifests)}): fix data.train/dev/test in the config")
    write_json(marker, {"settings": settings, "source": where, "manifests": {k: str(v) for k, v in manifests.items()}})
    return StageResult(data_summary(exp))


def _entries(exp: Experiment, splits: tuple[str, ...]) -> list:
    from ds2ray.data.manifest import read_manifest

    missing = [str(exp.manifest(s)) for s in splits if not exp.manifest(s).exists()]
    if missing:
        raise FileNotFoundError(f"manifest(s) {missing} not found: run the prepare stage first")
    return list(read_manifest(exp.manifests(splits), skip_bad=True))


def mean_std(exp: Experiment, *, force: bool = False) -> StageResult:
    """Normaliser statistics; kept when they exist for the same feature settings."""
    from ds2ray.data.normalizer import NormalizerStats, compute_mean_std

    features = exp.recipe.features
    if is_done(exp.mean_std, force):
        stats = NormalizerStats.load(exp.mean_std)
        if stats.feature_config == features:
            return StageResult(f"exists ({stats.num_utterances} utterances)", skipped=True)
    stats = compute_mean_std(_entries(exp, exp.recipe.data.train), features,
                             num_samples=exp.recipe.data.mean_std_samples,
                             num_workers=min(4, os.cpu_count() or 1), seed=exp.recipe.train.seed)
    stats.save(exp.mean_std)  # atomic
    return StageResult(f"{stats.num_utterances} utterances, {stats.num_frames} frames, {len(stats.mean)} "
                       f"{features.kind} features")


def vocab(exp: Experiment, *, force: bool = False) -> StageResult:
    """The character vocabulary of the training transcripts."""
    from ds2ray.data.vocab import Vocabulary, build_vocabulary

    if is_done(exp.vocab, force):
        return StageResult(f"exists ({Vocabulary.load(exp.vocab).size} classes)", skipped=True)
    data = exp.recipe.data
    report = build_vocabulary((e.text for e in _entries(exp, data.train)), language=data.language,
                              count_threshold=data.vocab_count_threshold)
    report.vocabulary.save(exp.vocab)  # atomic
    return StageResult(report.summary())


def lm(exp: Experiment, *, force: bool = False) -> StageResult:
    """The n-gram LM (skipped when the recipe builds none)."""
    from ds2ray.lm.build import LMBuildConfig, build_lm_from_text, parse_prune

    cfg = exp.recipe.lm
    out = exp.lm
    if out is None:
        return StageResult("skipped: lm.order is 0 (no language model in this recipe)", skipped=True)
    if is_done(out, force):
        return StageResult(f"exists ({out})", skipped=True)
    corpora = [str(exp.manifest(s)) for s in cfg.splits] + [exp.resolve(t) for t in cfg.texts]
    missing = [c for c in corpora if not os.path.exists(c)]
    if missing:
        raise FileNotFoundError(f"LM corpus file(s) {missing} not found (run the prepare stage first)")
    build = LMBuildConfig(order=cfg.order, prune=parse_prune(cfg.prune),
                          binary_type="trie" if cfg.binary and cfg.quantize else "probing")
    built = build_lm_from_text(corpora, out, build, language=exp.recipe.data.language)
    print(f"corpus ({built.language}): {built.corpus.summary()}\n{built.build.summary()}", flush=True)
    return StageResult(f"{out} ({out.stat().st_size / 1024:.0f} KiB)")
