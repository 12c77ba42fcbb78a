"""Tuned decoder files: ``best.json`` written by ``ds2ray tune``, and a shipped model's ``tuned.json``.

A tuned file is a JSON object with numeric ``alpha`` and ``beta`` and, optionally, the other decoder
settings the grid was decoded with (:data:`TUNED_NUMBERS`, :data:`TUNED_PATHS`) plus context
(``wer``, ``error_rate_type``, ``grid``, ...). :func:`read_tuned` is the one reader: ``ds2ray
test``/``infer`` (:mod:`ds2ray.decode.options`), ``serve``, shipped models (:mod:`ds2ray.pretrained`)
all read tuned files through it and take the same fields (:func:`tuned_settings`).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

#: numeric :class:`~ds2ray.decode.base.DecoderSettings` fields a tuned file may set (alpha, beta required)
TUNED_NUMBERS = ("alpha", "beta", "beam_width", "beam_prune_logp", "token_min_logp", "unk_score_offset")
#: the LM a grid was decoded with (absent from a shipped model's tuned.json: the model has its own LM)
TUNED_PATHS = ("lm_path", "unigrams")
_EXPECTED = "a tuned file is a JSON object with numeric 'alpha' and 'beta': the best.json written by `ds2ray tune`"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_tuned(data: Any, source: str) -> dict[str, Any]:
    """``data`` (a tuned file's content) if it is a valid tuned object, else ``ValueError`` naming ``source``."""
    if not isinstance(data, dict):
        raise ValueError(f"--tuned: {source} must hold a JSON object, got {type(data).__name__} ({_EXPECTED})")
    for key in ("alpha", "beta"):
        if not _is_number(data.get(key)):
            raise ValueError(f"--tuned: {source} needs a number in field {key!r}, got {data.get(key)!r} ({_EXPECTED})")
    for key in TUNED_NUMBERS:
        if data.get(key) is not None and not _is_number(data[key]):
            raise ValueError(f"--tuned: {source}: field {key!r} must be a number, got {data[key]!r}")
    for key in TUNED_PATHS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"--tuned: {source}: field {key!r} must be a path, got {data[key]!r}")
    return data


def read_tuned(path: str) -> dict[str, Any]:
    """The tuned file at ``path`` (local or fsspec URL), checked by :func:`check_tuned`, every key kept.

    Raises ``FileNotFoundError`` or ``ValueError`` with a message that names the file.
    """
    from ds2ray import fileio

    try:
        with fileio.open_file(str(path), "rb") as fh:
            data = json.loads(fh.read())
    except FileNotFoundError:
        raise FileNotFoundError(f"--tuned: {path} not found ({_EXPECTED})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--tuned: {path} is not valid JSON ({err})") from err
    return check_tuned(data, str(path))


def tuned_settings(tuned: Mapping[str, Any], *, paths: bool = True) -> dict[str, Any]:
    """The :class:`~ds2ray.decode.base.DecoderSettings` fields a tuned object sets (``None`` values left
    out); ``paths=False`` leaves out its LM (:data:`TUNED_PATHS`) too."""
    keys = TUNED_NUMBERS + (TUNED_PATHS if paths else ())
    return {k: tuned[k] for k in keys if tuned.get(k) is not None}
