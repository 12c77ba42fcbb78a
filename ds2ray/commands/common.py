"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse


def add_manifest_args(p: argparse.ArgumentParser, *, required: bool = True, multiple: bool = True) -> None:
    p.add_argument("--manifest", "--manifest-path", "--manifest_path", dest="manifest", required=required, action="append" if multiple else "store",
                   help="JSON-lines manifest (local path or fsspec URL)" + ("; repeat for several" if multiple else ""))
    p.add_argument("--min-duration", type=float, default=None, help="drop utterances shorter than this (s)")
    p.add_argument("--max-duration", type=float, default=None, help="drop utterances longer than this (s)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip malformed manifest lines (counted and reported) instead of failing")


def read_manifest_args(args: argparse.Namespace):
    from ds2ray.data.manifest import read_manifest

    return read_manifest(args.manifest, min_duration=args.min_duration, max_duration=args.max_duration,
                         skip_bad=args.skip_bad)


def add_feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature", "--specgram-type", "--specgram_type", dest="feature",
                   choices=("linear", "fbank", "mfcc"), default=None,
                   help="feature kind (default: linear, the DS2 spectrogram; seed: specgram_type)")
    p.add_argument("--feature-config", default=None, help="FeatureConfig JSON file (fields override defaults)")
    p.add_argument("--sample-rate", type=int, default=None, help="target sample rate (default 16000)")
    p.add_argument("--cmn", action="store_true", default=None,
                   help="subtract each utterance's mean feature vector (per-utterance mean normalisation)")


def feature_config_from_args(args: argparse.Namespace):
    from ds2ray.data.features import FeatureConfig

    cfg = FeatureConfig.load(args.feature_config) if args.feature_config else FeatureConfig()
    if args.feature:
        cfg = cfg.replace(kind=args.feature)
    if args.sample_rate:
        cfg = cfg.replace(sample_rate=args.sample_rate)
    if args.cmn:
        cfg = cfg.replace(cmn=True)
    return cfg
