"""Self-describing checkpoints: read and write a model with everything needed to use it.

A checkpoint is a folder (a Ray Train checkpoint folder, local or on S3) holding:

- ``model.pt``: model config, feature config, vocabulary, normaliser stats and the weights:
  everything ``test``/``infer``/``tune``/``serve`` need, from the path alone;
- ``train_state.pt`` (training checkpoints only): optimizer, scheduler, RNG states, epoch, global
  step and position in the data, so a resumed run neither loses nor repeats a step.

Wherever a checkpoint path is taken, the name of a shipped model (``en``: :mod:`ds2ray.pretrained`)
works too: :func:`model_file` resolves it. Shipped weights are stored as float16 (half the size) and
come back as float32 from :func:`load_checkpoint`. The model built from a checkpoint, ready to run,
is :func:`ds2ray.inference.model.load_acoustic_model`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from ds2ray import fileio
from ds2ray.data.features import FeatureConfig
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.data.vocab import Vocabulary
from ds2ray.model.config import ModelConfig

MODEL_FILE = "model.pt"
TRAIN_STATE_FILE = "train_state.pt"
FORMAT = "ds2ray-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or not a ds2ray checkpoint; the message names the path."""


@dataclass
class CheckpointData:
    """The contents of ``model.pt`` (and ``train_state.pt`` when asked for and present)."""

    model_config: ModelConfig
    feature_config: FeatureConfig
    vocab: Vocabulary
    normalizer: NormalizerStats | None
    model_state: dict[str, torch.Tensor]
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] | None = None
    train_state: dict[str, Any] | None = None
    path: str = ""


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def _save(obj: Any, path: str) -> None:
    if fileio.is_url(path):
        buf = io.BytesIO()
        torch.save(obj, buf)
        with fileio.open_file(path, "wb") as fh:
            fh.write(buf.getvalue())
    else:
        with fileio.atomic_write(path, "wb") as fh:
            torch.save(obj, fh)


def _load(path: str) -> Any:
    with fileio.open_file(path, "rb") as fh:
        data = fh.read()
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def _join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if fileio.is_url(folder) else os.path.join(folder, name)


def save_checkpoint(
    folder: str,
    model: torch.nn.Module,
    *,
    model_config: ModelConfig,
    feature_config: FeatureConfig,
    vocab: Vocabulary,
    normalizer: NormalizerStats | None,
    train_state: dict[str, Any] | None = None,
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    weights_dtype: torch.dtype | None = None,
) -> str:
    """Write ``folder/model.pt`` (and ``folder/train_state.pt`` when ``train_state`` is given).

    ``train_state`` is free-form: the training loop stores optimizer/scheduler state dicts, RNG
    states, epoch, global step and batch position there. ``weights_dtype`` (e.g. ``torch.float16``
    for a shipped model) stores the parameters in that type (buffers stay float32);
    :func:`load_checkpoint` returns them as float32. Returns the path of ``model.pt``.
    """
    if vocab.size != model_config.num_classes:
        raise CheckpointError(f"vocabulary has {vocab.size} classes but the model {model_config.num_classes}")
    if feature_config.num_features != model_config.num_features:
        raise CheckpointError(f"features have {feature_config.num_features} dims but the model expects "
                              f"{model_config.num_features}")
    if not fileio.is_url(folder):
        os.makedirs(folder, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    if weights_dtype is not None:
        state = _cast_parameters(unwrap(model), state, weights_dtype)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model_config.to_dict(),
        "feature_config": feature_config.to_dict(),
        "vocab": vocab.to_dict(),
        "normalizer": normalizer.to_dict() if normalizer is not None else None,
        "model_state": state,
        "train_config": train_config,
        "metrics": dict(metrics or {}),
    }
    if train_state is not None:
        _save(train_state, _join(folder, TRAIN_STATE_FILE))
    path = _join(folder, MODEL_FILE)
    _save(payload, path)  # last: a folder with model.pt is complete
    return path


def _cast_parameters(model: torch.nn.Module, state: dict[str, torch.Tensor],
                     dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``state`` with the model's parameters in ``dtype``; buffers (batch-norm running statistics,
    whose tiny variances float16 would flush) stay as they are."""
    names = {name for name, _ in model.named_parameters()}
    limit = torch.finfo(dtype).max
    out = {}
    for key, value in state.items():
        if key in names and value.is_floating_point():
            peak = float(value.abs().max()) if value.numel() else 0.0
            if peak > limit:
                raise CheckpointError(f"weight {key} reaches {peak:g}, beyond {dtype}'s range ({limit:g}); "
                                      "store this model in float32")
            value = value.to(dtype)
        out[key] = value
    return out


def model_file(path: str) -> str:
    """``path`` itself if it names a file, else ``path/model.pt``; a shipped model's name (``en``)
    gives that model's file (:func:`ds2ray.pretrained.resolve_checkpoint`, which raises
    ``no shipped model 'xx'; available: en`` for a bare name that is neither)."""
    from ds2ray.pretrained import PretrainedNotFoundError, resolve_checkpoint

    try:
        path = resolve_checkpoint(str(path))
    except PretrainedNotFoundError as err:
        raise CheckpointError(str(err)) from err
    base = path.rstrip("/")
    if base.endswith(".pt"):
        return base
    return _join(base, MODEL_FILE)


def load_checkpoint(path: str, *, with_train_state: bool = False) -> CheckpointData:
    """Read a checkpoint folder (or its ``model.pt``), local or fsspec URL."""
    file = model_file(str(path))
    try:
        payload = _load(file)
    except FileNotFoundError as err:
        raise CheckpointError(f"{file}: no checkpoint there (expected a folder with {MODEL_FILE} or the "
                              ".pt file itself)") from err
    except Exception as err:  # torch raises many types for a corrupt file
        raise CheckpointError(f"{file}: unreadable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not a ds2ray checkpoint (no '{FORMAT}' header)")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{file}: checkpoint version {payload['version']} is newer than this ds2ray "
                              f"({VERSION}); upgrade ds2ray")
    norm = payload.get("normalizer")
    # float16 weights (shipped models) compute in float32
    state = {k: v.float() if torch.is_tensor(v) and v.dtype == torch.float16 else v
             for k, v in payload["model_state"].items()}
    data = CheckpointData(
        model_config=ModelConfig.from_dict(payload["model_config"]),
        feature_config=FeatureConfig.from_dict(payload["feature_config"]),
        vocab=Vocabulary.from_dict(payload["vocab"]),
        normalizer=NormalizerStats.from_dict(norm) if norm else None,
        model_state=state,
        metrics=payload.get("metrics") or {},
        train_config=payload.get("train_config"),
        path=file,
    )
    if with_train_state:
        state_file = _join(fileio.dirname(file) if fileio.is_url(file) else os.path.dirname(file), TRAIN_STATE_FILE)
        if fileio.exists(state_file):
            data.train_state = _load(state_file)
    return data
