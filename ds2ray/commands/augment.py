"""``ds2ray augment``: check an augmentation config, or preview what it does to real utterances."""

from __future__ import annotations

import argparse

from ds2ray.commands.common import add_feature_args, add_manifest_args, feature_config_from_args, read_manifest_args


def register(sub) -> None:
    p = sub.add_parser("augment", help="check or preview a data augmentation config",
                       description="Data augmentation configs are the seed's JSON format: a list of "
                                   '{"type", "params", "prob"} objects (types: volume, speed, shift, '
                                   "bayesian_normal, noise, impulse, specaugment).")
    verbs = p.add_subparsers(dest="augment_command", metavar="VERB", required=True)

    check = verbs.add_parser("check", help="validate a config and print it with every default filled in",
                             description="Parse the config (errors name the entry), print the full config "
                                         "with defaults and resolved manifest paths, and which stages run.")
    check.add_argument("--config", required=True, help="augmentation config JSON file")
    check.set_defaults(func=run_check)

    preview = verbs.add_parser(
        "preview", help="write augmented WAVs and a PNG of original vs augmented spectrograms",
        description="Pick --num utterances from the manifest at random (--seed), augment each once, and "
                    "write NN_original.wav, NN_augmented.wav, preview.png (spectrograms side by side) and "
                    "preview.json (what fired, with the drawn values) into --out.")
    preview.add_argument("--config", required=True, help="augmentation config JSON file")
    add_manifest_args(preview)
    add_feature_args(preview)
    preview.add_argument("--mean-std", default=None,
                         help="normaliser stats (.npz from `ds2ray mean-std`) to normalise features as in "
                              "training; its feature config is used unless feature flags are given "
                              "(default: normalise each utterance by itself)")
    preview.add_argument("--out", required=True, help="output folder")
    preview.add_argument("--num", type=int, default=4, help="utterances to preview (default 4)")
    preview.add_argument("--seed", type=int, default=0, help="seed for picking utterances and augmenting them")
    preview.set_defaults(func=run_preview)


def run_check(args: argparse.Namespace) -> int:
    from ds2ray.augment import AugmentPipeline

    pipe = AugmentPipeline.from_config(args.config)
    print(pipe.to_json())
    stages = [name for name, on in (("waveform", pipe.has_waveform_stage), ("features", pipe.has_feature_stage))
              if on]
    print(f"{len(pipe)} step(s); active stages: {', '.join(stages) or 'none (every prob is 0)'}")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    import numpy as np

    from ds2ray.augment import AugmentPipeline
    from ds2ray.augment.preview import render_preview

    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    pipe = AugmentPipeline.from_config(args.config)
    manifest = read_manifest_args(args)
    rng = np.random.default_rng(args.seed)
    picks = sorted(rng.choice(len(manifest), size=min(args.num, len(manifest)), replace=False)) if len(manifest) else []
    entries = [manifest[int(i)] for i in picks]
    feature_config, normalize = feature_config_from_args(args), None
    if args.mean_std:
        from ds2ray.data.normalizer import NormalizerStats

        stats = NormalizerStats.load(args.mean_std)
        if not (args.feature or args.feature_config or args.sample_rate):
            feature_config = stats.feature_config
        stats.check_compatible(feature_config)
        normalize = stats.apply
    result = render_preview(pipe, entries, args.out, feature_config=feature_config, normalize=normalize,
                            seed=args.seed)
    for item in result.items:
        applied = ", ".join(a["type"] for a in item.applied) or "nothing fired"
        print(f"{item.augmented_wav}: {item.original_seconds:.2f}s -> {item.augmented_seconds:.2f}s ({applied})")
    print(f"spectrograms: {result.png}")
    return 0
