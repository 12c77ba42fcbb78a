"""``TrainConfig`` and ``TrainJob``: everything a training run needs, as plain dicts for Ray.

The driver builds a :class:`TrainJob` (train config + model config + feature config + vocabulary +
normaliser stats), passes ``job.to_loop_config()`` as ``train_loop_config``, and each Ray worker
rebuilds it with :meth:`TrainJob.from_loop_config` on its first line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ds2ray.config import PRECISIONS, ConfigBase, ConfigError
from ds2ray.data.features import FeatureConfig
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.data.vocab import Vocabulary
from ds2ray.model.config import ModelConfig
from ds2ray.train.gradsync import GRAD_COMPRESSIONS, GRAD_SYNC_MODES, GRAD_TRANSPORTS

LR_SCHEDULES = ("cosine", "exponential")


@dataclass(frozen=True)
class TrainConfig(ConfigBase):
    """One training run. Durations in seconds, ``batch_frames`` in input feature frames per rank."""

    train_manifests: tuple[str, ...] = ()
    dev_manifests: tuple[str, ...] = ()
    min_duration: float = 0.0
    max_duration: float = 27.0  # the seed's default
    dev_max_utterances: int = 0  # evaluate on at most this many dev utterances (0 = all)
    stream: bool = False  # read a cloud manifest's tar shards sequentially (ds2ray.train.stream)
    shuffle_buffer: int = 512  # streaming: samples in each reader's shuffle buffer
    stream_cache_dir: str | None = None  # streaming: keep a local copy of each shard read here
    # scale
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: int = 1  # also the torch threads of each rank
    loader_workers: int = 1  # DataLoader processes per rank (feature extraction + augmentation)
    precision: str = "auto"  # auto | fp32 | bf16: operands of the big products (ds2ray.model.precision); GPU: autocast unless fp32
    pin_cpus: bool = False  # CPU: each rank (and its loaders) on cores of its own (ds2ray.train.affinity)
    grad_sync: str = "auto"  # auto (flat on CPU, ddp on GPU) | ddp | flat: see ds2ray.train.gradsync
    grad_compression: str = "none"  # none | bf16 | fp16: gradients sent at half width (flat only)
    grad_transport: str = "auto"  # auto (shared memory when every CPU rank shares a host) | shm | group (flat only)
    # batches
    batch_frames: int = 12000  # cap on padded frames (batch size x longest) per rank and step
    batch_size: int = 0  # cap on utterances per batch (0 = frames cap only)
    sortagrad: bool = True  # first epoch in ascending duration
    # optimisation
    epochs: int = 20
    max_steps: int = 0  # stop after this many optimizer steps in all (0 = no limit)
    max_minutes: float = 0.0  # stop after this much training time (0 = no limit); LR schedule follows it
    lr: float = 2e-3
    lr_schedule: str = "cosine"  # cosine: warmup then cosine to lr*min_lr_ratio; exponential: lr*decay^epoch
    warmup_fraction: float = 0.1
    min_lr_ratio: float = 0.02
    lr_decay: float = 0.83  # exponential schedule: the seed's per-epoch decay
    weight_decay: float = 0.0
    max_grad_norm: float = 5.0
    seed: int = 0
    augment_config: str | None = None
    # run, checkpoints, logging
    run_name: str = "ds2"
    storage_path: str = "runs"
    init_from: str | None = None
    max_failures: int = 0
    checkpoint_every_steps: int = 0  # also checkpoint every N steps (0 = only at epoch ends)
    keep_checkpoints: int = 3
    keep_best: bool = True  # also keep the checkpoint of the lowest dev CER so far, in <run>/best
    average_last: int = 0  # at the end, average the newest N kept checkpoints into <run>/averaged (0 = off)
    log_every_steps: int = 20
    # test hook: rank ``fail_rank`` raises once at this global step (the file marks "already failed").
    fail_at_step: int = 0
    fail_rank: int = 0
    fail_marker: str = ""

    def __post_init__(self) -> None:
        for name in ("train_manifests", "dev_manifests"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if self.grad_sync not in GRAD_SYNC_MODES:
            raise ConfigError(f"TrainConfig.grad_sync must be one of {GRAD_SYNC_MODES}, got {self.grad_sync!r}")
        if self.grad_compression not in GRAD_COMPRESSIONS:
            raise ConfigError(f"TrainConfig.grad_compression must be one of {GRAD_COMPRESSIONS}, "
                              f"got {self.grad_compression!r}")
        if self.grad_transport not in GRAD_TRANSPORTS:
            raise ConfigError(f"TrainConfig.grad_transport must be one of {GRAD_TRANSPORTS}, got {self.grad_transport!r}")
        if self.grad_transport == "shm" and (self.grad_sync == "ddp" or self.grad_compression != "none"):
            raise ConfigError("TrainConfig.grad_transport shm works with grad_sync flat (or auto on CPU) and no "
                              "grad_compression (compression saves network bytes; shared memory sends none)")
        if self.grad_compression != "none" and self.grad_sync == "ddp":
            raise ConfigError("TrainConfig.grad_compression works with grad_sync flat (or auto on CPU), not ddp")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"TrainConfig.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.num_workers < 1 or self.cpus_per_worker < 1:
            raise ConfigError("TrainConfig: num_workers and cpus_per_worker must be >= 1")
        if self.stream and self.shuffle_buffer < 1:
            raise ConfigError("TrainConfig.shuffle_buffer must be >= 1")
        if self.batch_frames < 1:
            raise ConfigError("TrainConfig.batch_frames must be >= 1")
        if self.epochs < 1:
            raise ConfigError("TrainConfig.epochs must be >= 1")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError("TrainConfig.warmup_fraction must be in [0, 1)")
        if self.keep_checkpoints < 1:
            raise ConfigError("TrainConfig.keep_checkpoints must be >= 1")
        if not 0 <= self.average_last <= self.keep_checkpoints:
            raise ConfigError(f"TrainConfig.average_last ({self.average_last}) must be in [0, keep_checkpoints "
                              f"({self.keep_checkpoints})]: only kept checkpoints can be averaged; raise keep_checkpoints")
        if self.fail_at_step and not self.fail_marker:
            raise ConfigError("TrainConfig.fail_at_step (a test hook) needs fail_marker, a file path that "
                              "records the failure so the restarted run does not fail again")


@dataclass(frozen=True)
class TrainJob:
    """What the worker needs: configs plus the data-derived vocabulary and normaliser."""

    train: TrainConfig
    model: ModelConfig
    features: FeatureConfig
    vocab: Vocabulary
    normalizer: NormalizerStats
    augment: tuple[dict[str, Any], ...] | None = None  # AugmentPipeline.to_config(), read by the driver

    def __post_init__(self) -> None:
        if self.model.num_classes != self.vocab.size:
            raise ConfigError(f"model has {self.model.num_classes} classes but the vocabulary {self.vocab.size}; "
                              "size the model with ModelConfig.for_data")
        if self.model.num_features != self.features.num_features:
            raise ConfigError(f"model expects {self.model.num_features} features, the feature config gives "
                              f"{self.features.num_features}")
        self.normalizer.check_compatible(self.features)

    def to_loop_config(self) -> dict[str, Any]:
        return {"train": self.train.to_dict(), "model": self.model.to_dict(), "features": self.features.to_dict(),
                "vocab": self.vocab.to_dict(), "normalizer": self.normalizer.to_dict(),
                "augment": list(self.augment) if self.augment else None}

    @classmethod
    def from_loop_config(cls, config: dict[str, Any]) -> "TrainJob":
        return cls(TrainConfig.from_dict(config["train"]), ModelConfig.from_dict(config["model"]),
                   FeatureConfig.from_dict(config["features"]), Vocabulary.from_dict(config["vocab"]),
                   NormalizerStats.from_dict(config["normalizer"]),
                   tuple(config["augment"]) if config.get("augment") else None)
