"""A builder's options dataclass as command-line flags, and back.

Each field is one flag: ``synth_hours`` <-> ``--synth-hours``. The field's type gives the
argparse type (``X | None`` -> ``X``), a ``tuple[T, T]`` field takes two values and a
``tuple[T, ...]`` one or more, and a ``bool`` field is a switch. Help text, choices, metavar and
mutually exclusive groups come from the field metadata that :func:`option` writes::

    @dataclass(frozen=True)
    class FsddOptions(CorpusOptions):
        test_speaker: str = option("theo", "the speaker held out for testing")

        def validate(self) -> None:
            check(bool(self.test_speaker), self, "test_speaker", "must name a speaker")

:class:`CorpusOptions` checks every field's type when an instance is made (a YAML ``12`` for a
``float`` field becomes ``12.0``, a list for a tuple field a tuple), then calls ``validate``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Iterable

from ds2ray.config import ConfigBase, ConfigError


@dataclasses.dataclass(frozen=True)
class CorpusOptions(ConfigBase):
    """Base of the ``<Corpus>Options`` dataclasses: typed fields, checked in ``__post_init__``."""

    def __post_init__(self) -> None:
        check_types(self)
        self.validate()

    def validate(self) -> None:
        """Range checks of the subclass (raise through :func:`check`)."""


def option(default: Any, help: str, *, choices: Iterable[Any] | None = None,
           metavar: str | tuple[str, ...] | None = None, group: str | None = None) -> Any:
    """A dataclass field with its flag's help text (``%(default)s`` works), choices, metavar and
    mutually exclusive group."""
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None, "metavar": metavar,
            "group": group}
    return dataclasses.field(default=default, metadata=meta)


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def check(ok: bool, options: Any, field_name: str, message: str) -> None:
    """Raise :class:`~ds2ray.config.ConfigError` naming the field (and its flag) unless ``ok``."""
    if not ok:
        raise ConfigError(f"{type(options).__name__}.{field_name} ({flag_name(field_name)}) {message}, "
                          f"got {getattr(options, field_name)!r}")


def check_types(options: Any) -> None:
    """Check each field's value against its annotation (``X | None``, ``bool``, ``int``, ``float``,
    ``str``, ``tuple[X, ...]``, ``tuple[X, X]``), turning ints into floats and lists into tuples
    where the field says so; a mismatch raises ``ConfigError`` naming the field."""
    hints = typing.get_type_hints(type(options))
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if value is None and _optional(hints[f.name]):
            continue
        elem, nargs = _flag_spec(hints[f.name])
        if nargs is None:
            ok, value = _coerce(elem, value)
        elif isinstance(value, (list, tuple)) and (nargs == "+" and value or len(value) == nargs):
            pairs = [_coerce(elem, v) for v in value]
            ok, value = all(o for o, _ in pairs), tuple(v for _, v in pairs)
        else:
            ok = False
        if not ok:
            what = {"+": f"a list of {elem.__name__}", None: elem.__name__}.get(nargs, f"{nargs} {elem.__name__}s")
            none = "None or " if _optional(hints[f.name]) else ""
            raise ConfigError(f"{type(options).__name__}.{f.name} ({flag_name(f.name)}) must be {none}{what}, "
                              f"got {getattr(options, f.name)!r}")
        object.__setattr__(options, f.name, value)


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _coerce(elem: type, value: Any) -> tuple[bool, Any]:
    if elem is float and isinstance(value, int) and not isinstance(value, bool):
        return True, float(value)
    if elem is int and isinstance(value, bool):
        return False, value
    return isinstance(value, elem), value


def _flag_spec(tp: Any) -> tuple[type, Any]:
    """``(element type, nargs)`` of a field type; ``nargs`` is None for a single value."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"cannot make a flag of type {tp}")
        tp = args[0]
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0], "+"
        if len(set(args)) != 1:
            raise TypeError(f"cannot make a flag of type {tp}: mixed element types")
        return args[0], len(args)
    return tp, None


def add_option_flags(parser: argparse.ArgumentParser, options_cls: type,
                     groups: dict[str, Any] | None = None) -> None:
    """One flag per field of ``options_cls``; fields of the same ``group`` are mutually exclusive
    (``groups`` maps a group name to an existing mutually exclusive group of ``parser``)."""
    groups = groups if groups is not None else {}
    hints = typing.get_type_hints(options_cls)
    for f in dataclasses.fields(options_cls):
        meta = f.metadata
        group_name = meta.get("group")
        if group_name and group_name not in groups:
            groups[group_name] = parser.add_mutually_exclusive_group()
        target = groups[group_name] if group_name else parser
        if f.default is dataclasses.MISSING:
            raise TypeError(f"{options_cls.__name__}.{f.name}: a flag needs a plain default (use option())")
        kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": meta.get("help")}
        elem, nargs = _flag_spec(hints[f.name])
        if elem is bool and nargs is None:
            kwargs["action"] = "store_true" if not f.default else argparse.BooleanOptionalAction
        else:
            kwargs["type"] = elem
            if nargs is not None:
                kwargs["nargs"] = nargs
            if meta.get("choices") is not None:
                kwargs["choices"] = meta["choices"]
            if meta.get("metavar") is not None:
                kwargs["metavar"] = meta["metavar"]
        target.add_argument(flag_name(f.name), **kwargs)


def options_from_args(options_cls: type, args: argparse.Namespace) -> Any:
    """The options dataclass from parsed flags (lists become tuples); raises ``ConfigError``."""
    values = {}
    for f in dataclasses.fields(options_cls):
        value = getattr(args, f.name)
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return options_cls(**values)
