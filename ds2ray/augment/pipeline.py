"""The augmentation pipeline: the seed's JSON config -> ordered, probabilistic augmentor steps.

Config (the seed's format, unchanged)::

    [{"type": "speed", "params": {"min_speed_rate": 0.95, "max_speed_rate": 1.05}, "prob": 0.5},
     {"type": "shift", "params": {"min_shift_ms": -5, "max_shift_ms": 5}, "prob": 1.0}]

Each step fires with probability ``prob``. Waveform steps run in config order in
:meth:`AugmentPipeline.process_waveform`; feature steps (``freq_warp``, ``specaugment``) in
:meth:`AugmentPipeline.process_features`.

Randomness: one ``np.random.Generator`` per sample and epoch (:meth:`AugmentPipeline.rng_for`),
so a run is reproducible and every epoch and worker sees different perturbations. Each step
always draws its coin, so the draws of one step do not depend on whether an earlier one fired.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

# Importing the augmentor modules registers them.
from ds2ray.augment import codec as _codec  # noqa: F401
from ds2ray.augment import colored_noise as _colored_noise  # noqa: F401
from ds2ray.augment import freqwarp as _freqwarp  # noqa: F401
from ds2ray.augment import impulse as _impulse  # noqa: F401
from ds2ray.augment import noise as _noise  # noqa: F401
from ds2ray.augment import reverb as _reverb  # noqa: F401
from ds2ray.augment import specaugment as _specaugment  # noqa: F401
from ds2ray.augment import telephone as _telephone  # noqa: F401
from ds2ray.augment import waveform as _waveform  # noqa: F401
from ds2ray.augment.base import AUGMENTORS, FEATURES, WAVEFORM, Augmentor, AugmentConfigError

ENTRY_KEYS = ("type", "params", "prob")


@dataclass(frozen=True)
class AugmentStep:
    """One config entry: an augmentor and the probability that it fires."""

    augmentor: Augmentor
    prob: float

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.augmentor.type_name, "params": self.augmentor.params(), "prob": self.prob}


@dataclass(frozen=True)
class Applied:
    """What one step did to one sample (for previews and logs)."""

    type: str
    choice: dict[str, Any]


class AugmentPipeline:
    """Ordered augmentation steps; picklable, so it travels to Ray workers as is."""

    def __init__(self, steps: Sequence[AugmentStep] = ()) -> None:
        self.steps: tuple[AugmentStep, ...] = tuple(steps)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> "AugmentPipeline":
        return cls(())

    @classmethod
    def from_config(cls, config: "AugmentPipeline | Sequence[dict] | str | os.PathLike | None") -> "AugmentPipeline":
        """Build from a list of ``{"type", "params", "prob"}`` dicts, a JSON string, or a JSON file.

        A string starting with ``[`` is JSON text; any other string is a path. Relative paths in
        params (noise/impulse manifests) resolve against the working directory, as in the seed,
        and failing that against the config file's folder. ``None`` or ``[]`` gives an empty
        pipeline. Raises :class:`AugmentConfigError` naming the entry index and type.
        """
        if config is None:
            return cls.empty()
        if isinstance(config, AugmentPipeline):
            return config
        source, base_dir = "augmentation config", None
        if isinstance(config, (str, os.PathLike)):
            text = str(config)
            if text.lstrip().startswith("["):
                config = _parse_json(text, source)
            else:
                path = Path(text)
                source, base_dir = f"augmentation config {path}", path.resolve().parent
                try:
                    config = _parse_json(path.read_text(encoding="utf-8"), source)
                except FileNotFoundError as err:
                    raise AugmentConfigError(f"{source}: file not found") from err
        if isinstance(config, dict) or not isinstance(config, Iterable):
            raise AugmentConfigError(f"{source}: expected a JSON list of {{\"type\", \"params\", \"prob\"}} "
                                     f"objects, got {type(config).__name__}")
        return cls(tuple(_parse_entry(i, entry, source, base_dir) for i, entry in enumerate(config)))

    def to_config(self) -> list[dict[str, Any]]:
        """The config that rebuilds this pipeline (JSON-ready)."""
        return [step.to_dict() for step in self.steps]

    def to_json(self) -> str:
        return json.dumps(self.to_config(), indent=2)

    # -- randomness -----------------------------------------------------------------------------
    @staticmethod
    def rng_for(seed: int, epoch: int, index: int) -> np.random.Generator:
        """The generator for sample ``index`` in ``epoch`` of a run seeded with ``seed``."""
        return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), int(index)]))

    def prepare(self, sample_rate: int) -> None:
        """Let each waveform augmentor build its shared state (reverb's room bank) before the
        pipeline is pickled to loader processes, so they receive it instead of rebuilding it."""
        for step in self.steps:
            if step.augmentor.stage == WAVEFORM and step.prob > 0:
                step.augmentor.prepare(sample_rate)

    # -- stages ---------------------------------------------------------------------------------
    @property
    def has_waveform_stage(self) -> bool:
        return any(s.augmentor.stage == WAVEFORM and s.prob > 0 for s in self.steps)

    @property
    def has_feature_stage(self) -> bool:
        return any(s.augmentor.stage == FEATURES and s.prob > 0 for s in self.steps)

    def process_waveform(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator,
                         trace: list[Applied] | None = None) -> np.ndarray:
        """Run the waveform steps. audio: (N,) mono or (C, N), float32 or float64; returns the
        same dtype and channels (N may change: ``speed``). Appends what fired to ``trace``."""
        audio = _check_waveform(audio)
        if audio.shape[-1] == 0:
            return audio
        for step in self.steps:
            aug = step.augmentor
            if aug.stage != WAVEFORM:
                continue
            if rng.random() >= step.prob:
                continue
            choice = aug.sample(rng, audio.shape[-1], sample_rate)
            audio = aug.apply(audio, sample_rate, **choice)
            if trace is not None:
                trace.append(Applied(aug.type_name, choice))
        return audio

    def process_features(self, feats, rng: np.random.Generator, trace: list[Applied] | None = None):
        """Run the feature steps (SpecAugment). feats: (T, F) torch tensor -> new (T, F) tensor;
        the input is never modified. Give it normalised features (after the mean/std), so that a
        mask of zeros is a mask at the mean, as in the SpecAugment paper."""
        import torch

        if not isinstance(feats, torch.Tensor) or feats.dim() != 2:
            shape = tuple(feats.shape) if hasattr(feats, "shape") else type(feats).__name__
            raise ValueError(f"process_features expects a (T, F) torch tensor, got {shape}")
        for step in self.steps:
            aug = step.augmentor
            if aug.stage != FEATURES:
                continue
            if rng.random() >= step.prob:
                continue
            choice = aug.sample(rng, feats.shape[0], feats.shape[1])
            feats = aug.apply(feats, **choice)
            if trace is not None:
                trace.append(Applied(aug.type_name, choice))
        return feats

    # -- dunder ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.steps)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AugmentPipeline) and self.steps == other.steps

    def __repr__(self) -> str:
        inner = ", ".join(f"{s.augmentor.type_name}(p={s.prob:g})" for s in self.steps)
        return f"AugmentPipeline([{inner}])"


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise AugmentConfigError(f"{source}: invalid JSON at line {err.lineno} column {err.colno}: "
                                 f"{err.msg}") from err


def _parse_entry(index: int, entry: Any, source: str, base_dir: Path | None) -> AugmentStep:
    where = f"{source} entry {index}"
    if not isinstance(entry, dict):
        raise AugmentConfigError(f"{where}: expected an object with keys {', '.join(ENTRY_KEYS)}, "
                                 f"got {type(entry).__name__}")
    type_name = entry.get("type")
    if not isinstance(type_name, str):
        raise AugmentConfigError(f"{where}: missing 'type'; one of {', '.join(sorted(AUGMENTORS))}")
    where = f"{where} ({json.dumps(type_name)})"
    unknown = [k for k in entry if k not in ENTRY_KEYS]
    if unknown:
        raise AugmentConfigError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(ENTRY_KEYS)}")
    cls = AUGMENTORS.get(type_name)
    if cls is None:
        raise AugmentConfigError(f"{where}: unknown augmentor type; expected one of {', '.join(sorted(AUGMENTORS))}")
    prob = entry.get("prob", 1.0)
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
        raise AugmentConfigError(f"{where}: 'prob' must be a number in [0, 1], got {prob!r}")
    params = entry.get("params")
    params = {} if params is None else params
    if isinstance(params, dict):
        params = dict(params)
        for name in cls.path_params:
            if isinstance(params.get(name), str):
                params[name] = _resolve_path(params[name], base_dir)
    try:
        augmentor = cls.from_params(params)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        raise AugmentConfigError(f"{where}: {err}") from err
    return AugmentStep(augmentor, float(prob))


def _resolve_path(path: str, base_dir: Path | None) -> str:
    """Seed behaviour first (relative to the CWD), then relative to the config file's folder."""
    from ds2ray import fileio

    if fileio.is_absolute(path):
        return path
    if os.path.exists(path) or base_dir is None:
        return os.path.abspath(path)
    candidate = base_dir / path
    return str(candidate) if candidate.exists() else os.path.abspath(path)


def _check_waveform(audio: Any) -> np.ndarray:
    if not isinstance(audio, np.ndarray):
        raise ValueError(f"process_waveform expects a numpy array, got {type(audio).__name__}")
    if audio.ndim not in (1, 2):
        raise ValueError(f"process_waveform expects (N,) or (C, N) audio, got shape {audio.shape}")
    if audio.dtype not in (np.float32, np.float64):
        raise ValueError(f"process_waveform expects float32 or float64 audio, got {audio.dtype}; "
                         "load it with ds2ray.data.audio.load_audio")
    return audio
