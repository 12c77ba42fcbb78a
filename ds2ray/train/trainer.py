"""The driver side of training: resolve data-derived inputs, then run a Ray Train ``TorchTrainer``.

- Connects to the cluster named by ``RAY_ADDRESS`` (``ray job submit`` sets it), else starts a
  local Ray sized to this machine (:func:`ds2ray.raycluster.connect`).
- ``RunConfig(name, storage_path)``: re-running with the same run name and storage resumes from
  the newest checkpoint on its own; storage may be a local folder or an ``s3://`` URL
  (``AWS_ENDPOINT_URL`` selects an S3-compatible server).
- ``FailureConfig(max_failures)``: a crashed worker group restarts from the last checkpoint.
- ``CheckpointConfig(num_to_keep)``: the K newest checkpoints are kept; beside them ``<run>/best``
  (``keep_best``: the lowest dev CER so far) and, at the end, ``<run>/averaged`` (``average_last``:
  the mean of the newest N, :mod:`ds2ray.model.average`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from ds2ray import fileio
from ds2ray.data.features import FeatureConfig
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.data.vocab import Vocabulary
from ds2ray.model.config import ModelConfig
from ds2ray.pretrained import resolve_checkpoint
from ds2ray.train.config import TrainConfig, TrainJob

log = logging.getLogger(__name__)

#: Environment variables the driver passes on to the training workers.
FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE",
                 "DS2RAY_CPP_GRU")  # C++ GRU time loop on/off (ds2ray.model.gru_ext)

#: Environment for the driver and a local Ray's workers: Ray Train polls workers every 0.2 s (its 2 s
#: default delays every report).
TRAIN_RAY_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"}


@dataclass
class TrainResult:
    checkpoint: str | None  # path or URL of the newest checkpoint folder
    metrics: dict[str, Any]
    run_dir: str
    error: BaseException | None = None
    best: str | None = None  # <run>/best: the lowest dev CER the loop saw (TrainConfig.keep_best)
    averaged: str | None = None  # <run>/averaged: the mean of the newest kept checkpoints (average_last)


def build_job(cfg: TrainConfig, model: ModelConfig, features: FeatureConfig, vocab: Vocabulary,
              normalizer: NormalizerStats) -> TrainJob:
    """Size the model for the data, read the augmentation config, check it all fits together."""
    augment = None
    if cfg.augment_config:
        try:
            from ds2ray.augment import AugmentPipeline
        except ImportError as err:
            raise RuntimeError("--augment-config needs ds2ray.augment, which failed to import") from err
        augment = tuple(AugmentPipeline.from_config(cfg.augment_config).to_config())
    # Workers run in other folders (and on other nodes): local paths must be absolute.
    cfg = cfg.replace(train_manifests=tuple(_absolute(p) for p in cfg.train_manifests),
                      dev_manifests=tuple(_absolute(p) for p in cfg.dev_manifests),
                      init_from=_absolute(resolve_checkpoint(cfg.init_from)) if cfg.init_from else None,
                      storage_path=_absolute(cfg.storage_path))
    return TrainJob(cfg, model.for_data(features, vocab.size), features, vocab, normalizer, augment)


def _absolute(path: str) -> str:
    return path if fileio.is_url(path) else os.path.abspath(os.path.expanduser(path))


def storage_args(storage_path: str) -> dict[str, Any]:
    """``RunConfig`` storage arguments: absolute local path, or an S3 filesystem for ``s3://``."""
    if not fileio.is_url(storage_path):
        return {"storage_path": os.path.abspath(os.path.expanduser(storage_path))}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if storage_path.startswith("s3://") and endpoint:
        import pyarrow.fs

        scheme = "http" if endpoint.startswith("http://") else "https"
        host = endpoint.split("://", 1)[-1].rstrip("/")
        fs = pyarrow.fs.S3FileSystem(endpoint_override=host, scheme=scheme,
                                     access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
                                     secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
                                     region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        return {"storage_path": storage_path[len("s3://"):].rstrip("/"), "storage_filesystem": fs}
    return {"storage_path": storage_path}


def run_train(job: TrainJob) -> TrainResult:
    """Run (or resume) ``job`` on Ray Train and return where its newest checkpoint is."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    from ds2ray.raycluster import connect
    from ds2ray.train.loop import train_loop_per_worker
    from ds2ray.train.metrics_log import run_dir

    cfg = job.train
    connect(env=TRAIN_RAY_ENV)
    scaling = ray.train.ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                      resources_per_worker={"CPU": cfg.cpus_per_worker})
    # Workers read s3:// manifests, shards and storage with the driver's credentials and endpoint.
    env = {k: v for k, v in os.environ.items() if k in FORWARDED_ENV and v}
    run_config = ray.train.RunConfig(
        name=cfg.run_name,
        worker_runtime_env={"env_vars": env} if env else None,
        failure_config=ray.train.FailureConfig(max_failures=cfg.max_failures),
        checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
        **storage_args(cfg.storage_path),
    )
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=job.to_loop_config(),
        scaling_config=scaling,
        run_config=run_config,
        torch_config=TorchConfig(backend="nccl" if cfg.use_gpu else "gloo"),
    )
    try:
        result = trainer.fit()
    except Exception as err:  # ray raises TrainingFailedError once max_failures is spent
        raise RuntimeError(f"training run {cfg.run_name!r} failed: {err}. Re-run the same command to resume "
                           "from its last checkpoint.") from err
    checkpoint = _storage_path(result.checkpoint.path, cfg.storage_path) if result.checkpoint is not None else None
    folder = run_dir(cfg.storage_path, cfg.run_name)
    best = averaged = None
    if result.error is None:
        _plot_curves(folder)
        best = _best_checkpoint(folder) if cfg.keep_best else None
        kept = sorted(result.best_checkpoints or [], key=lambda cm: int(cm[1].get("step", 0)))
        if cfg.average_last > 1 and len(kept) > 1:
            from ds2ray.model.average import average_checkpoints

            sources = [_storage_path(c.path, cfg.storage_path) for c, _ in kept[-cfg.average_last:]]
            averaged = f"{folder.rstrip('/')}/{AVERAGED_DIR}"
            average_checkpoints(sources, averaged)
            log.info("averaged the last %d checkpoints into %s", len(sources), averaged)
    return TrainResult(checkpoint, dict(result.metrics or {}), folder, result.error, best, averaged)


#: Folder of the run that holds the average of its newest checkpoints (TrainConfig.average_last).
AVERAGED_DIR = "averaged"


def _storage_path(path: str, storage_path: str) -> str:
    """A checkpoint path from Ray as ds2ray names it: with its ``s3://`` scheme for URL storage."""
    if fileio.is_url(storage_path) and "://" not in path:
        return f"{storage_path.split('://')[0]}://{path}"
    return path


def _best_checkpoint(folder: str) -> str | None:
    from ds2ray.model.checkpoint import MODEL_FILE
    from ds2ray.train.loop import BEST_DIR

    best = f"{folder.rstrip('/')}/{BEST_DIR}"
    return best if fileio.exists(f"{best}/{MODEL_FILE}") else None


def _plot_curves(folder: str) -> None:
    """``<run>/curves.png``: loss and dev CER/WER over steps and minutes (local runs; never fatal)."""
    if fileio.is_url(folder):
        return
    from ds2ray.train.curves import plot_training_curves

    try:
        log.info("training curves: %s", plot_training_curves(folder))
    except (OSError, ValueError) as err:
        log.warning("no training curves for %s: %s", folder, err)
