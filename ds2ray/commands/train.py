"""``ds2ray train``: train DeepSpeech2 on Ray Train (local Ray, or the cluster in ``RAY_ADDRESS``)."""

from __future__ import annotations

import argparse
import json
import os

from ds2ray.commands.common import add_feature_args
from ds2ray.config import PRECISIONS

EPILOG = """\
examples:
  ds2ray train --train-manifest data/manifest.train.jsonl --dev-manifest data/manifest.dev.jsonl \\
      --preset demo --num-workers 2 --max-minutes 15 --run-name demo --storage-path runs
  # the same command again resumes run 'demo' from its newest checkpoint
  ds2ray train ... --preset seed --use-gpu --num-workers 8 --storage-path s3://bucket/runs

The vocabulary and normaliser stats are built from the training manifests unless --vocab /
--mean-std are given; either way they are stored in every checkpoint (and cached in the run folder).
"""


def register(sub) -> None:
    p = sub.add_parser("train", help="train DeepSpeech2 with Ray Train (checkpointed, resumable)",
                       description="Train DeepSpeech2 on one or many workers with Ray Train. Checkpoints are "
                                   "self-describing; re-running with the same --run-name and --storage-path "
                                   "resumes where the run stopped.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--train-manifest", action="append", required=True,
                   help="training manifest (local path or fsspec URL); repeat for several")
    d.add_argument("--dev-manifest", action="append", default=None,
                   help="dev manifest for the per-epoch dev loss and greedy CER; repeat for several")
    d.add_argument("--min-duration", type=float, default=None, help="skip shorter training utterances (s)")
    d.add_argument("--max-duration", type=float, default=None, help="skip longer training utterances (s; default 27)")
    d.add_argument("--dev-max-utterances", type=int, default=None,
                   help="evaluate on a fixed random subset of this many dev utterances (default all)")
    d.add_argument("--vocab", default=None, help="vocabulary JSON (default: built from the training transcripts)")
    d.add_argument("--mean-std", default=None,
                   help="normaliser .npz from `ds2ray mean-std` (default: computed from the training manifests)")
    d.add_argument("--mean-std-samples", type=int, default=1000,
                   help="utterances sampled when computing the normaliser here")
    d.add_argument("--stream", action="store_true", default=None,
                   help="read a cloud manifest (ds2ray upload) shard after shard instead of member by member: one "
                        "request per shard, shard shuffle + shuffle buffer, no SortaGrad")
    d.add_argument("--shuffle-buffer", type=int, default=None, help="--stream: samples per shuffle buffer (512)")
    d.add_argument("--stream-cache", default=None, help="--stream: keep a local copy of each shard read here")
    d.add_argument("--augment-config", default=None, help="augmentation pipeline JSON/YAML (ds2ray augment)")
    m = p.add_argument_group("model")
    m.add_argument("--preset", default=None,
                   help="architecture preset: demo (default; learns best on CPU), seed (the seed's DS2), "
                        "seed-gru, tiny")
    m.add_argument("--model-config", default=None,
                   help="ModelConfig JSON; its fields override the preset's")
    add_feature_args(p)
    m.add_argument("--init-from", default=None,
                   help="start from this checkpoint's weights (model, features, vocab and normaliser from it too)")
    s = p.add_argument_group("scale")
    s.add_argument("--num-workers", type=int, default=None, help="Ray Train workers (DDP ranks; default 1)")
    s.add_argument("--cpus-per-worker", type=int, default=None, help="CPUs (and torch threads) per worker (default 1)")
    s.add_argument("--use-gpu", action="store_true", help="one GPU per worker, NCCL, bf16 autocast")
    s.add_argument("--loader-workers", type=int, default=None,
                   help="DataLoader processes per worker for audio + features + augmentation (default 1)")
    s.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="operands of the conv, GRU-input and output products: auto (default: bf16 on a CPU with "
                        "native bf16, bf16 autocast on GPU), fp32, bf16; weights and optimizer stay fp32")
    s.add_argument("--pin-cpus", action="store_true",
                   help="CPU: keep each worker (and its loaders) on cores of its own; needs workers x "
                        "cpus-per-worker cores on each node (else nothing is pinned)")
    s.add_argument("--grad-sync", choices=("auto", "ddp", "flat"), default=None,
                   help="how ranks average gradients: flat (one all-reduce after the backward pass; the CPU "
                        "default), ddp (DistributedDataParallel; the GPU default)")
    s.add_argument("--grad-compression", choices=("none", "bf16", "fp16"), default=None,
                   help="send gradients at half width (flat sync only; not numerically neutral)")
    s.add_argument("--grad-transport", choices=("auto", "shm", "group"), default=None,
                   help="how flat sync moves gradients: shm (shared memory; every CPU rank on one host), group "
                        "(the process group: gloo over TCP); default auto = shm where it can")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=None, help="passes over the training data (default 20)")
    o.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in all")
    o.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this much training time; the LR schedule ends with it")
    o.add_argument("--batch-frames", type=int, default=None,
                   help="cap on padded feature frames per batch and worker (default 12000 = 120 s)")
    o.add_argument("--batch-size", type=int, default=None, help="cap on utterances per batch (default: none)")
    o.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3)")
    o.add_argument("--lr-schedule", choices=("cosine", "exponential"), default=None,
                   help="cosine: warmup then cosine (default); exponential: the seed's lr * decay^epoch")
    o.add_argument("--lr-decay", type=float, default=None, help="exponential schedule's per-epoch factor (0.83)")
    o.add_argument("--warmup-fraction", type=float, default=None, help="share of the run spent warming up (0.1)")
    o.add_argument("--max-grad-norm", type=float, default=None, help="gradient clipping norm (default 5)")
    o.add_argument("--no-sortagrad", action="store_true", help="shuffle the first epoch too")
    o.add_argument("--seed", type=int, default=None, help="seed for init, batching and augmentation")
    r = p.add_argument_group("run")
    r.add_argument("--train-config", default=None, help="TrainConfig JSON; flags given here override it")
    r.add_argument("--run-name", default=None, help="run name; the same name resumes (default ds2)")
    r.add_argument("--storage-path", default=None, help="local folder or s3:// URL for runs (default ./runs)")
    r.add_argument("--max-failures", type=int, default=None, help="worker-group restarts allowed (default 0)")
    r.add_argument("--checkpoint-every-steps", type=int, default=None,
                   help="also checkpoint every N steps (default: epoch ends only)")
    r.add_argument("--keep-checkpoints", type=int, default=None, help="keep the K newest checkpoints (default 3)")
    r.add_argument("--no-keep-best", action="store_true",
                   help="do not keep the lowest-dev-CER checkpoint in <run>/best (kept by default)")
    r.add_argument("--average-last", type=int, default=None,
                   help="at the end, average the N newest kept checkpoints into <run>/averaged (icefall's --avg; "
                        "N <= --keep-checkpoints; default 0 = off)")
    r.add_argument("--log-every-steps", type=int, default=None, help="progress line every N steps (default 20)")
    p.set_defaults(func=run)


#: flag name -> TrainConfig field, for flags that map one to one.
_FLAG_FIELDS = {
    "min_duration": "min_duration", "max_duration": "max_duration", "dev_max_utterances": "dev_max_utterances",
    "augment_config": "augment_config", "init_from": "init_from", "num_workers": "num_workers",
    "cpus_per_worker": "cpus_per_worker", "loader_workers": "loader_workers", "epochs": "epochs",
    "max_steps": "max_steps", "max_minutes": "max_minutes", "batch_frames": "batch_frames",
    "batch_size": "batch_size", "lr": "lr", "lr_schedule": "lr_schedule", "lr_decay": "lr_decay",
    "warmup_fraction": "warmup_fraction", "max_grad_norm": "max_grad_norm", "seed": "seed",
    "run_name": "run_name", "storage_path": "storage_path", "max_failures": "max_failures",
    "checkpoint_every_steps": "checkpoint_every_steps", "keep_checkpoints": "keep_checkpoints",
    "log_every_steps": "log_every_steps", "stream": "stream", "shuffle_buffer": "shuffle_buffer",
    "stream_cache": "stream_cache_dir", "grad_sync": "grad_sync", "grad_compression": "grad_compression",
    "grad_transport": "grad_transport", "precision": "precision", "average_last": "average_last",
}


def train_config_from_args(args: argparse.Namespace):
    from ds2ray.train.config import TrainConfig

    cfg = TrainConfig.load(args.train_config) if args.train_config else TrainConfig()
    changes = {field: getattr(args, flag) for flag, field in _FLAG_FIELDS.items() if getattr(args, flag) is not None}
    changes["train_manifests"] = tuple(args.train_manifest)
    if args.dev_manifest:
        changes["dev_manifests"] = tuple(args.dev_manifest)
    if args.use_gpu:
        changes["use_gpu"] = True
    if args.no_sortagrad:
        changes["sortagrad"] = False
    if args.pin_cpus:
        changes["pin_cpus"] = True
    if args.no_keep_best:
        changes["keep_best"] = False
    return cfg.replace(**changes)


def model_and_features(args: argparse.Namespace):
    """(ModelConfig, FeatureConfig) from --init-from, or the preset + --model-config + feature flags."""
    from ds2ray.data.features import FeatureConfig
    from ds2ray.model.checkpoint import load_checkpoint
    from ds2ray.model.config import ModelConfig, get_preset

    if args.init_from:
        if args.preset or args.model_config or args.feature or args.feature_config or args.cmn:
            raise ValueError("--init-from takes the model and features from the checkpoint; drop --preset, "
                             "--model-config, --feature, --feature-config and --cmn")
        ckpt = load_checkpoint(args.init_from)
        return ckpt, ckpt.model_config, ckpt.feature_config
    preset = get_preset(args.preset or "demo")
    model = preset.model
    if args.model_config:
        with open(args.model_config) as fh:
            model = ModelConfig.from_dict({**model.to_dict(), **json.load(fh)})
    features = FeatureConfig.load(args.feature_config) if args.feature_config else preset.features
    if args.feature:
        features = features.replace(kind=args.feature)
    if args.sample_rate:
        features = features.replace(sample_rate=args.sample_rate)
    if args.cmn:
        features = features.replace(cmn=True)
    return None, model, features


def resolve_vocab_and_stats(args, cfg, features, ckpt):
    """Vocabulary and normaliser: from flags, the --init-from checkpoint, the run's cache, or computed."""
    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.normalizer import NormalizerStats, compute_mean_std
    from ds2ray.data.vocab import Vocabulary, build_vocabulary
    from ds2ray.fileio import is_url
    from ds2ray.train.metrics_log import run_dir

    cache = None if is_url(cfg.storage_path) else run_dir(cfg.storage_path, cfg.run_name)
    vocab_cache = os.path.join(cache, "vocab.json") if cache else None
    stats_cache = os.path.join(cache, "mean_std.npz") if cache else None
    manifest = None

    def train_manifest():
        nonlocal manifest
        if manifest is None:
            manifest = read_manifest(list(cfg.train_manifests), min_duration=cfg.min_duration or None,
                                     max_duration=cfg.max_duration or None, skip_bad=True)
        return manifest

    if args.vocab:
        vocab = Vocabulary.load(args.vocab)
        if ckpt is not None and vocab.diff(ckpt.vocab):
            raise ValueError(f"--vocab {args.vocab} differs from the --init-from checkpoint's: {vocab.diff(ckpt.vocab)}")
    elif ckpt is not None:
        vocab = ckpt.vocab
    elif vocab_cache and os.path.exists(vocab_cache):
        vocab = Vocabulary.load(vocab_cache)
    else:
        report = build_vocabulary(e.text for e in train_manifest())
        print(f"vocabulary: {report.summary()}")
        vocab = report.vocabulary
    if args.mean_std:
        stats = NormalizerStats.load(args.mean_std)
        stats.check_compatible(features)
    elif ckpt is not None and ckpt.normalizer is not None:
        stats = ckpt.normalizer
    elif stats_cache and os.path.exists(stats_cache) and NormalizerStats.load(stats_cache).feature_config == features:
        stats = NormalizerStats.load(stats_cache)
    else:
        stats = compute_mean_std(train_manifest().entries, features, num_samples=args.mean_std_samples,
                                 num_workers=min(4, os.cpu_count() or 1), seed=cfg.seed)
        print(f"normaliser: {stats.num_utterances} utterances, {stats.num_frames} frames")
    if cache:
        os.makedirs(cache, exist_ok=True)
        vocab.save(vocab_cache)
        stats.save(stats_cache)
    return vocab, stats


def run(args: argparse.Namespace) -> int:
    from ds2ray.train.trainer import build_job, run_train

    cfg = train_config_from_args(args)
    ckpt, model, features = model_and_features(args)
    vocab, stats = resolve_vocab_and_stats(args, cfg, features, ckpt)
    job = build_job(cfg, model, features, vocab, stats)
    result = run_train(job)
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.metrics.items()}
    print(f"run {cfg.run_name}: {json.dumps(shown)}")
    print(f"checkpoint: {result.checkpoint}")
    if result.best:
        print(f"lowest dev CER: {result.best}")
    if result.averaged:
        print(f"average of the last {cfg.average_last}: {result.averaged}")
    print(f"logs: {result.run_dir}/logs (steps.csv, epochs.csv, tb/); curves: {result.run_dir}/curves.png")
    return 0 if result.error is None else 1
