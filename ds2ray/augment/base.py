"""Augmentor base classes and the name registry.

An augmentor is a frozen dataclass whose fields are the ``params`` of one config entry (the seed's
names, e.g. ``min_speed_rate``). Subclasses register by name with a class keyword::

    @dataclass(frozen=True)
    class VolumeAugmentor(WaveformAugmentor, name="volume"):
        min_gain_dBFS: float
        max_gain_dBFS: float

Randomness is split from the transform, so every effect can be tested exactly:

- ``sample(rng, ...)`` draws this application's random choices and returns them as a dict;
- ``apply(x, ..., **choice)`` is deterministic given that dict.

Waveforms are float arrays with time on the last axis: (N,) mono or (C, N) multi-channel (every
channel gets the same perturbation). Features are torch tensors (T, F): T frames, F bins.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Mapping

import numpy as np

from ds2ray.config import ConfigError

#: type name -> augmentor class, filled by ``__init_subclass__``.
AUGMENTORS: dict[str, type["Augmentor"]] = {}

WAVEFORM = "waveform"
FEATURES = "features"


class AugmentConfigError(ConfigError):
    """An augmentation config entry is malformed. The message names the entry index and type."""


class Augmentor:
    """Base of every augmentor. Subclasses are frozen dataclasses registered with ``name=``."""

    type_name: ClassVar[str] = ""
    stage: ClassVar[str] = ""
    #: params holding file paths that a config file may give relative to itself or the CWD.
    path_params: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is None:
            return
        if name in AUGMENTORS and AUGMENTORS[name].__qualname__ != cls.__qualname__:
            raise TypeError(f"augmentor type {name!r} is already registered by {AUGMENTORS[name].__qualname__}")
        cls.type_name = name
        AUGMENTORS[name] = cls

    # -- config ---------------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)  # type: ignore[arg-type]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Augmentor":
        """Check names and types of ``params``, then build (``__post_init__`` checks ranges).

        Raises ``ValueError`` without location; :class:`AugmentPipeline` adds the entry index.
        """
        if not isinstance(params, Mapping):
            raise ValueError(f"'params' must be a JSON object, got {type(params).__name__}")
        fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        names = [f.name for f in fields]
        unknown = [k for k in params if k not in names]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; expected {', '.join(names)}")
        required = [f.name for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in params]
        if missing:
            raise ValueError(f"missing parameter {missing[0]!r}; required: {', '.join(required)}")
        hints = typing.get_type_hints(cls)
        kwargs = {name: _coerce(name, value, hints[name]) for name, value in params.items()}
        return cls(**kwargs)

    def params(self) -> dict[str, Any]:
        """The constructor parameters, JSON-ready (round-trips through :meth:`from_params`)."""
        values = {name: getattr(self, name) for name in self.param_names()}
        return {name: list(v) if isinstance(v, tuple) else v for name, v in values.items()}

    # -- randomness and effect ------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, *shape_info: int) -> dict[str, Any]:
        """Draw the random choices of one application (see subclasses for ``shape_info``)."""
        raise NotImplementedError


class WaveformAugmentor(Augmentor):
    """Acts on a waveform: (N,) or (C, N) float array at ``sample_rate``. Length may change."""

    stage: ClassVar[str] = WAVEFORM

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:  # type: ignore[override]
        raise NotImplementedError

    def apply(self, audio: np.ndarray, sample_rate: int, **choice: Any) -> np.ndarray:
        raise NotImplementedError

    def prepare(self, sample_rate: int) -> None:
        """Build what every application shares (e.g. a bank of rooms) now, once, rather than in
        each loader process on first use. Default: nothing to build."""


class FeatureAugmentor(Augmentor):
    """Acts on features: a (T, F) torch tensor, returned with the same shape."""

    stage: ClassVar[str] = FEATURES

    def sample(self, rng: np.random.Generator, num_frames: int, num_bins: int) -> dict[str, Any]:  # type: ignore[override]
        raise NotImplementedError

    def apply(self, feats, **choice: Any):
        raise NotImplementedError


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check a JSON value against a field's type: float, int, bool, str, their ``| None``, or
    ``tuple[X, ...]`` (a non-empty JSON list of X, returned as a tuple)."""
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"parameter {name!r} must be a non-empty list, got {value!r}")
        return tuple(_coerce(f"{name}[{i}]", v, item) for i, v in enumerate(value))
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if value is None:
        if optional:
            return None
        raise ValueError(f"parameter {name!r} must not be null")
    if base is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"parameter {name!r} must be true or false, got {value!r}")
    if base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            return float(value)
        raise ValueError(f"parameter {name!r} must be a finite number, got {value!r}")
    if base is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ValueError(f"parameter {name!r} must be an integer, got {value!r}")
        return int(value)
    if base is str:
        if isinstance(value, str) and value:
            return value
        raise ValueError(f"parameter {name!r} must be a non-empty string, got {value!r}")
    return value


def check_range(name: str, low: float, high: float, lo_name: str, hi_name: str, *,
                minimum: float | None = None, maximum: float | None = None) -> None:
    """Shared check for ``min_x``/``max_x`` parameter pairs."""
    if low > high:
        raise ValueError(f"{lo_name}={low} is greater than {hi_name}={high}")
    if minimum is not None and low < minimum:
        raise ValueError(f"{lo_name}={low} is below the allowed minimum {minimum} for {name}")
    if maximum is not None and high > maximum:
        raise ValueError(f"{hi_name}={high} is above the allowed maximum {maximum} for {name}")
