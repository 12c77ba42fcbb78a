"""Frozen-dataclass configs that round-trip through plain dicts (JSON/YAML friendly)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, TypeVar

T = TypeVar("T", bound="ConfigBase")

#: Arithmetic of the model's big matrix products (:mod:`ds2ray.model.precision`). The names live here,
#: on the torch-free ground floor, so that every command line (the light clients too) offers the same.
PRECISIONS = ("auto", "fp32", "bf16")
#: What runs the acoustic model (:func:`ds2ray.inference.model.load_recognizer`); auto: onnx for a .onnx file.
MODEL_BACKENDS = ("auto", "torch", "onnx")


class ConfigError(ValueError):
    """A config field is missing, unknown or out of range."""


@dataclasses.dataclass(frozen=True)
class ConfigBase:
    """Mixin for frozen config dataclasses: ``to_dict``/``from_dict``/``replace``/JSON files."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"{cls.__name__}: unknown field(s) {unknown}; expected some of {sorted(names)}"
            )
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if isinstance(value, list) and _is_tuple_field(f):
                value = tuple(value)
            kwargs[f.name] = value
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ConfigError(f"{cls.__name__}: {err}") from err

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls: type[T], path: str | Path) -> T:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _is_tuple_field(f: dataclasses.Field) -> bool:
    return "tuple" in str(f.type).lower()


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON file holding one object; errors name ``what`` (e.g. ``--tuned``) and the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what}: {path} not found") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{what}: {path} is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{what}: {path} must hold a JSON object")
    return data
