"""Data stages of a recipe: manifests, normaliser stats, vocabulary, language model.

    python -m jobs.data --config jobs/fsdd/config.yaml --step prepare,mean-std,vocab,lm
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.data --config jobs/librispeech/config.yaml --data /mnt/data/librispeech

Steps (each skips work a previous run finished; ``--force`` redoes it):

- ``prepare``: ``ds2ray prepare <data.corpus>`` into ``<exp>/data`` (builders skip finished
  splits themselves), or a builder of this module (``fsdd``, ``english`` from ``jobs.english_data``);
- ``mean-std``: feature mean/std over ``data.mean_std_samples`` training utterances;
- ``vocab``: the character vocabulary of the training transcripts;
- ``lm``: ``ds2ray lm build`` on the transcripts of ``lm.splits`` plus the files of ``lm.texts``
  (when ``lm.order`` > 0; ``{exp}`` in a path is the experiment folder).
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path
from typing import Callable

from jobs.english_data import english_options, prepare_english
from jobs.recipe import Experiment, ds2ray_cli, load_experiment, resolve_repo_path, run_stage, stage_parser

# ---------------------------------------------------------------------------------------------
# prepare: corpus builders


def prepare_with_ds2ray(exp: Experiment, source: str | None, force: bool) -> str:
    """``ds2ray prepare <corpus> --out-dir <exp>/data [<source_flag> <source>] <args>``."""
    data = exp.recipe.data
    argv = ["prepare", data.corpus, "--out-dir", str(exp.root / "data")]
    if source:
        argv += [data.source_flag, source]
    if force:
        argv.append("--overwrite")
    argv += list(data.args)
    code = ds2ray_cli(argv)
    if code:
        raise RuntimeError(f"ds2ray {' '.join(argv)} exited with {code}")
    return _summary(exp)


def fsdd_options(args: tuple[str, ...]) -> argparse.Namespace:
    """The fsdd builder's flags (``data.args``)."""
    p = argparse.ArgumentParser(prog="fsdd builder (data.args in config.yaml)")
    p.add_argument("--test-speaker", default="theo", help="the speaker held out for testing")
    p.add_argument("--dev-fraction", type=float, default=0.1, help="share of the other speakers' recordings for dev")
    p.add_argument("--seed", type=int, default=0, help="seed of the dev sample")
    return p.parse_args(list(args))


def prepare_fsdd(exp: Experiment, source: str | None, force: bool) -> str:
    """Free Spoken Digit Dataset by speaker: ``--test-speaker`` (data.args) is the test set; the
    other five speakers train, with ``--dev-fraction`` of their recordings held out as dev.

    ``source`` is the folder holding FSDD's ``manifest.jsonl`` (``../shared/data/fsdd``).
    """
    from ds2ray.data.manifest import read_manifest, write_manifest

    opts = fsdd_options(exp.recipe.data.args)
    splits = {"train": exp.manifest("train"), "dev": exp.manifest("dev"), "test": exp.manifest("test")}
    if not force and all(path.exists() for path in splits.values()):
        return "manifests exist; " + _summary(exp)
    if not source:
        raise ValueError("fsdd: no data folder; set data.source in config.yaml or pass --data DIR")
    manifest = Path(source) / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"fsdd: {manifest} not found; pass --data with the folder holding FSDD's "
                                "manifest.jsonl and recordings/ (e.g. ../shared/data/fsdd)")
    entries = list(read_manifest(str(manifest)))
    speakers = sorted({e.speaker for e in entries if e.speaker})
    if opts.test_speaker not in speakers:
        raise ValueError(f"fsdd: --test-speaker {opts.test_speaker!r} is not in {manifest} (speakers: {speakers})")
    test = [e for e in entries if e.speaker == opts.test_speaker]
    rest = [e for e in entries if e.speaker != opts.test_speaker]
    rng = random.Random(opts.seed)
    dev_ids = set(rng.sample(range(len(rest)), int(round(opts.dev_fraction * len(rest)))))
    parts = {"train": [e for i, e in enumerate(rest) if i not in dev_ids],
             "dev": [e for i, e in enumerate(rest) if i in dev_ids], "test": test}
    for split, path in splits.items():
        write_manifest(path, parts[split], relative=False)  # the audio stays in the shared folder
    return (f"test speaker {opts.test_speaker}, train/dev speakers {[s for s in speakers if s != opts.test_speaker]}; "
            + _summary(exp))


#: data.corpus -> builder defined here; any other name goes to ``ds2ray prepare``.
BUILDERS: dict[str, Callable[[Experiment, str | None, bool], str]] = {"fsdd": prepare_fsdd,
                                                                      "english": prepare_english}
#: data.corpus -> the parser of its ``data.args`` (argparse exits on a bad flag)
OPTIONS: dict[str, Callable[[tuple[str, ...]], argparse.Namespace]] = {"fsdd": fsdd_options,
                                                                       "english": english_options}


def _summary(exp: Experiment) -> str:
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


def step_prepare(exp: Experiment, data_arg: str | None, force: bool) -> str:
    data = exp.recipe.data
    source = data_arg or (resolve_repo_path(data.source) if data.source else None)
    builder = BUILDERS.get(data.corpus, prepare_with_ds2ray)
    return builder(exp, source, force)


# ---------------------------------------------------------------------------------------------
# mean-std, vocab, lm


def _entries(exp: Experiment, splits: tuple[str, ...]) -> list:
    from ds2ray.data.manifest import read_manifest

    missing = [str(exp.manifest(s)) for s in splits if not exp.manifest(s).exists()]
    if missing:
        raise FileNotFoundError(f"manifest(s) {missing} not found: run the prepare step first")
    return list(read_manifest(exp.manifests(splits), skip_bad=True))


def step_mean_std(exp: Experiment, force: bool) -> str:
    from ds2ray.data.normalizer import NormalizerStats, compute_mean_std

    features = exp.recipe.features
    if exp.mean_std.exists() and not force:
        stats = NormalizerStats.load(exp.mean_std)
        if stats.feature_config == features:
            return f"exists ({stats.num_utterances} utterances)"
    stats = compute_mean_std(_entries(exp, exp.recipe.data.train), features,
                             num_samples=exp.recipe.data.mean_std_samples,
                             num_workers=min(4, os.cpu_count() or 1), seed=exp.recipe.train.seed)
    stats.save(exp.mean_std)  # atomic
    return f"{stats.num_utterances} utterances, {stats.num_frames} frames, {len(stats.mean)} {features.kind} features"


def step_vocab(exp: Experiment, force: bool) -> str:
    from ds2ray.data.vocab import Vocabulary, build_vocabulary

    if exp.vocab.exists() and not force:
        return f"exists ({Vocabulary.load(exp.vocab).size} classes)"
    data = exp.recipe.data
    report = build_vocabulary((e.text for e in _entries(exp, data.train)), language=data.language,
                              count_threshold=data.vocab_count_threshold)
    report.vocabulary.save(exp.vocab)  # atomic
    return report.summary()


def lm_text_path(exp: Experiment, path: str) -> str:
    """An ``lm.texts`` entry: ``{exp}/data/text.lm.txt`` lies in the experiment folder, any other
    relative path is relative to the repository root."""
    if "{exp}" in path:
        return path.replace("{exp}", str(exp.root))
    return resolve_repo_path(path)


def step_lm(exp: Experiment, force: bool) -> str:
    lm = exp.recipe.lm
    out = exp.lm
    if out is None:
        return "skipped: lm.order is 0 (no language model in this recipe)"
    if out.exists() and not force:
        return f"exists ({out})"
    corpora = [str(exp.manifest(s)) for s in lm.splits] + [lm_text_path(exp, t) for t in lm.texts]
    missing = [c for c in corpora if not os.path.exists(c)]
    if missing:
        raise FileNotFoundError(f"LM corpus file(s) {missing} not found (run the prepare step first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = ["lm", "build", "--out", str(out), "--order", str(lm.order),
            "--language", exp.recipe.data.language]
    for c in corpora:
        argv += ["--corpus", c]
    if lm.prune:
        argv += ["--prune", lm.prune]
    if lm.binary and lm.quantize:
        argv.append("--quantize")
    code = ds2ray_cli(argv)
    if code:
        raise RuntimeError(f"ds2ray {' '.join(argv)} exited with {code}")
    return f"{out} ({out.stat().st_size / 1024:.0f} KiB)"


STEPS = ("prepare", "mean-std", "vocab", "lm")


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.data", __doc__)
    p.add_argument("--step", default=",".join(STEPS), help=f"comma-separated subset of {list(STEPS)} (default all)")
    p.add_argument("--data", default=None,
                   help="where the corpus is (or is downloaded to); overrides data.source in config.yaml")
    args = p.parse_args(argv)
    wanted = [s.strip() for s in args.step.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STEPS))
    if unknown:
        p.error(f"unknown step(s) {unknown}; choose from {list(STEPS)}")
    exp = load_experiment(args, p)
    runs: dict[str, Callable[[], str]] = {
        "prepare": lambda: step_prepare(exp, args.data, args.force),
        "mean-std": lambda: step_mean_std(exp, args.force),
        "vocab": lambda: step_vocab(exp, args.force),
        "lm": lambda: step_lm(exp, args.force),
    }
    for name in (s for s in STEPS if s in wanted):
        code = run_stage(name, runs[name])
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
