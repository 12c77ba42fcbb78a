"""The main job on its embedded default (``make demo``): the ``jobs/demo/config.yaml`` recipe end to end.

The same stages as every recipe (:mod:`ds2ray.pipeline.runner`), each skipping work a previous run
finished, into one experiment folder (``--out-dir``):

1. ``prepare``  synthesize a corpus with espeak-ng voices (test voices never heard in training)
2. ``mean-std`` feature normalisation statistics
3. ``vocab``    the character vocabulary
4. ``lm``       a 3-gram KenLM from the training transcripts
5. ``train``    DS2 on Ray Train, 2 CPU workers, for a time budget; dev CER per epoch
6. ``tune``     a small alpha/beta grid on Ray Tune over the dev split; the best point is used
7. ``test``     WER/CER on the held-out-voice test split, greedy and beam + LM
8. ``infer``    a few test utterances, reference against hypothesis
9. ``serve``    start the Ray Serve endpoint, transcribe a held-out file over HTTP, stop it
10. ``shipped`` one real recording (``../shared/data``) by the demo model and by the shipped ``en`` model

The flags below are overrides of the config (``--set SECTION.FIELD=VALUE`` reaches any field).
Run ``python -m jobs.demo --help``; works the same under ``ray job submit -- python -m jobs.demo``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from ds2ray.pipeline.experiment import Experiment
from jobs.recipe import REPO

CONFIG = REPO / "jobs" / "demo" / "config.yaml"

#: ``--augment speed``: resampling speed perturbation (pitch and formants shift together). Off by
#: default: within a 15-minute budget it cost more steps than it gained on held-out voices
#: (test CER 0.247 with it, 0.242 without, 2 h corpus).
SPEED_AUGMENT = '[{"type": "speed", "params": {"min_speed_rate": 0.88, "max_speed_rate": 1.12}, "prob": 0.6}]'

#: ``--augment vtlp`` (the config's): vocal tract length perturbation, the feature frequency axis
#: stretched by 0.85-1.15 per utterance. In 15 minutes it took the held-out-voice test CER from
#: 0.224 to 0.176, most of it on the timbre least like any training voice (0.350 -> 0.213).
VTLP_AUGMENT = '[{"type": "freq_warp", "params": {"min_warp": 0.85, "max_warp": 1.15, "boundary": 0.8}, "prob": 1.0}]'

#: ``--augment`` keywords.
AUGMENT_PRESETS = {"vtlp": VTLP_AUGMENT, "speed": SPEED_AUGMENT, "none": None}

#: ``--quick``: a tiny corpus, the tiny model, half a minute of training (smoke tests)
QUICK_OPTIONS = {"hours": None, "num_utterances": 60, "heldout_timbres": 2, "dev_fraction": 0.1,
                 "test_fraction": 0.1}
QUICK_TRAIN_MINUTES = 0.5

#: Real recordings beside the checkout (``$DS2RAY_SHARED_DATA`` overrides), for the ``shipped`` stage.
SHARED_DATA = Path(os.environ.get("DS2RAY_SHARED_DATA", REPO.parent / "shared" / "data"))

#: stages after the library's: they need ``serve/`` or the shipped model
EXTRA_STAGES = ("serve", "shipped")
#: the demo's former name of a stage
STAGE_ALIASES = {"data": "prepare"}


def demo_overrides(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    """The flags as a patch of ``config`` (the raw YAML): section -> field -> value."""
    from ds2ray.data.corpora.tts import ENGINES
    from ds2ray.model.config import get_preset

    patch: dict[str, dict[str, Any]] = {"data": {}, "train": {}, "features": {}, "model": {}}
    options: dict[str, Any] = {}
    if args.quick:
        preset = get_preset("tiny")
        patch["model"] = preset.model.to_dict()
        patch["features"] = {**preset.features.to_dict(), "kind": (config.get("features") or {}).get("kind", "fbank")}
        options.update(QUICK_OPTIONS)
        patch["train"]["max_minutes"] = QUICK_TRAIN_MINUTES
    elif args.hours is not None:
        options["hours"] = args.hours
    if args.online:  # the online preset's unidirectional RNNs (tiny ones under --quick)
        patch["model"] = ({**patch["model"], "bidirectional": False} if args.quick
                          else get_preset("online").model.to_dict())
    if args.engines is not None:
        engines = [e for e in args.engines.split(",") if e in ENGINES and ENGINES[e].available()]
        options["engines"] = ",".join(engines) or "espeak"
    if args.seed is not None:
        options["seed"] = args.seed
        patch["train"]["seed"] = args.seed
    if args.feature is not None:
        patch["features"]["kind"] = args.feature
    if args.train_minutes is not None and not args.quick:
        patch["train"]["max_minutes"] = args.train_minutes
    if args.num_workers is not None:
        patch["train"]["num_workers"] = args.num_workers
    if args.augment is not None:
        patch["train"]["augment_config"] = AUGMENT_PRESETS.get(args.augment, args.augment or None)
    if args.batch_frames is not None:
        patch["train"]["batch_frames"] = args.batch_frames
    patch["data"]["options"] = options
    return patch


def load_demo(args: argparse.Namespace):
    """``jobs/demo/config.yaml`` with the flags, then ``--set``, applied."""
    from ds2ray.pipeline.config import RecipeConfig, apply_override, read_yaml

    data = read_yaml(args.config)
    for section, fields in demo_overrides(args, data).items():
        merged = dict(data.get(section) or {})
        for name, value in fields.items():
            merged[name] = {**(merged.get(name) or {}), **value} if name == "options" else value
        data[section] = merged
    for item in args.overrides:
        apply_override(data, item)
    return RecipeConfig.from_dict(data, source=str(args.config))


def stage_serve(exp: Experiment) -> str:
    from ds2ray.data.manifest import read_manifest

    try:
        from serve.app import run_in_process
        from serve.client import transcribe_file
    except ImportError as err:
        raise RuntimeError("the serve stage needs the serve package (pip install -e .)") from err
    entry = read_manifest(exp.manifest(exp.recipe.data.test[0]))[0]
    server = run_in_process(exp.checkpoint(), port=0)
    try:
        result = transcribe_file(entry.audio_filepath, server.url)
    finally:
        server.stop()
    print(f"  reference:  {entry.text}\n  transcript: {result['text']}")
    return f"POST {server.url}/transcribe of a held-out file -> {result['text']!r} (server stopped)"


def stage_shipped(exp: Experiment) -> str:
    from ds2ray.data.manifest import read_manifest
    from ds2ray.pretrained import DEFAULT_MODEL, find
    from ds2ray.transcribe import load_recognizer

    manifest = SHARED_DATA / "pocketsphinx" / "manifest.jsonl"
    if not manifest.is_file():
        return f"skipped: no real recordings at {manifest.parent}"
    if find(DEFAULT_MODEL) is None:
        return f"skipped: no shipped model {DEFAULT_MODEL!r} installed yet (ds2ray pretrained pack)"
    entry = read_manifest(str(manifest))[1]
    lm = exp.lm
    decoding = {"lm": str(lm), "tuned": str(exp.best_json) if exp.best_json.exists() else None} \
        if lm is not None and lm.exists() else {}
    demo = load_recognizer(exp.checkpoint(), **decoding).transcribe_file(entry.audio_filepath)
    shipped = load_recognizer(DEFAULT_MODEL).transcribe_file(entry.audio_filepath)
    print(f"  recording:     {entry.audio_filepath} ({entry.duration:.1f} s, real speech)\n"
          f"  reference:     {entry.text}\n  demo model:    {demo}\n  shipped {DEFAULT_MODEL!r}:  {shipped}")
    return f"demo model {demo!r}; shipped {DEFAULT_MODEL!r} {shipped!r}"


def build_parser() -> argparse.ArgumentParser:
    from ds2ray.pipeline.runner import STAGES

    all_stages = [*STAGES, *EXTRA_STAGES]
    p = argparse.ArgumentParser(prog="python -m jobs.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default="demo_out",
                   help="the experiment folder: everything goes here (default demo_out/)")
    p.add_argument("--config", default=str(CONFIG), help="the recipe (default jobs/demo/config.yaml)")
    p.add_argument("--hours", type=float, default=None, help="hours of synthetic speech (data.options.hours: 2)")
    p.add_argument("--engines", default=None, help="TTS engines (espeak, flite, festival; default espeak)")
    p.add_argument("--feature", default=None, choices=("linear", "fbank", "mfcc"), help="feature kind (default fbank)")
    p.add_argument("--seed", type=int, default=None, help="seed for corpus and training (default 0)")
    p.add_argument("--quick", action="store_true", help="tiny corpus and short stages (smoke test)")
    p.add_argument("--online", action="store_true",
                   help="train the streaming model (preset 'online': unidirectional GRUs, 170 ms lookahead) "
                        "for ds2ray.streaming; use its own --out-dir")
    p.add_argument("--train-minutes", type=float, default=None, help="training time budget (minutes; default 9)")
    p.add_argument("--num-workers", type=int, default=None, help="Ray Train workers (1 CPU each; default 2)")
    p.add_argument("--augment", default=None,
                   help="training augmentation: a JSON config or file, or 'vtlp' (frequency warp 0.85-1.15, the "
                        "default), 'speed' (perturbation 0.88-1.12, prob 0.6) or 'none'")
    p.add_argument("--batch-frames", type=int, default=None,
                   help="padded frames per batch and worker (default 2000)")
    p.add_argument("--stages", default=",".join(all_stages), help=f"comma-separated subset of {all_stages}")
    p.add_argument("--force", action="store_true",
                   help="redo stages whose output exists (train resumes its run: raise --train-minutes first)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one config field (repeatable)")
    return p


def main(argv: list[str] | None = None) -> int:
    from ds2ray.pipeline.runner import STAGES

    all_stages = [*STAGES, *EXTRA_STAGES]
    p = build_parser()
    args = p.parse_args(argv)
    wanted = [STAGE_ALIASES.get(s.strip(), s.strip()) for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(all_stages))
    if unknown:
        p.error(f"unknown stage(s) {unknown}; choose from {all_stages}")
    from ds2ray.cli import setup_logging
    from ds2ray.config import ConfigError
    from ds2ray.pipeline.runner import run_stages
    from jobs.recipe import stage_options

    try:
        recipe = load_demo(args)
    except (ConfigError, FileNotFoundError) as err:
        p.error(str(err))
    setup_logging()
    exp = Experiment.create(args.out_dir, recipe, base=REPO)
    t_all = time.time()
    runs = run_stages(exp, [s for s in all_stages if s in wanted], force=args.force, options=stage_options(),
                      extra={"serve": stage_serve, "shipped": stage_shipped})
    print("\n== demo summary")
    for run in runs:
        print(f"  {run.name:<9} {run.seconds:7.1f}s  {run.summary if run.ok else 'FAILED: ' + run.summary}")
    print(f"  total     {time.time() - t_all:7.1f}s  outputs in {args.out_dir}/")
    return 0 if all(r.ok for r in runs) else 2


if __name__ == "__main__":
    raise SystemExit(main())
