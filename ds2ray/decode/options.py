"""From what a user asked for to a :class:`~ds2ray.decode.base.DecoderConfig`.

Precedence: explicit settings > a ``--tuned`` file > the shipped model's LM and tuned.json (when the
checkpoint is a shipped model's name, e.g. ``en``, and neither ``lm`` nor ``tuned`` is given) >
:class:`DecoderConfig` defaults. The decoder is beam search when an LM or a tuned file is in play
(a shipped model's included), else greedy; ``decoder="greedy"`` always wins.
"""

from __future__ import annotations

from typing import Any

_ALIASES = {"ctc_greedy": "greedy", "ctc_beam_search": "beam"}
#: DecoderConfig fields a tuned file may set
_TUNED_FIELDS = ("alpha", "beta", "beam_width", "lm_path", "unigrams", "beam_prune_logp", "token_min_logp")


def read_tuned(path: str) -> dict[str, Any]:
    """``best.json`` from the tune command: needs numeric ``alpha`` and ``beta``."""
    from ds2ray.config import read_json_object

    data = read_json_object(path, "--tuned")
    for key in ("alpha", "beta"):
        if not isinstance(data.get(key), (int, float)) or isinstance(data.get(key), bool):
            raise ValueError(f"--tuned: {path} needs a number in field {key!r}, got {data.get(key)!r}")
    return data


def decoder_config_for(checkpoint: str | None = None, *, decoder: str | None = None, lm: str | None = None,
                       tuned: str | None = None, unigrams: str | None = None, alpha: float | None = None,
                       beta: float | None = None, beam_width: int | None = None,
                       beam_prune_logp: float | None = None, token_min_logp: float | None = None):
    """The decoder for ``checkpoint`` given these settings (``None`` = not given); see the module docstring.

    ``tuned`` is a path to a best.json. A shipped model's tuned.json is read the same way. ``lm``
    with ``decoder="greedy"`` is an error (greedy decoding uses no LM).
    """
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.pretrained import decoder_defaults

    shipped = decoder_defaults(checkpoint) if lm is None and tuned is None else None
    tuned_path = tuned or (shipped.tuned_path if shipped else None)
    tuned_data = read_tuned(tuned_path) if tuned_path else {}
    flags = {"alpha": alpha, "beta": beta, "beam_width": beam_width, "lm_path": lm, "unigrams": unigrams,
             "beam_prune_logp": beam_prune_logp, "token_min_logp": token_min_logp}
    fields: dict[str, Any] = {}
    for name in _TUNED_FIELDS:
        value = flags[name] if flags[name] is not None else tuned_data.get(name)
        if value is not None:
            fields[name] = value
    if shipped is not None:
        fields["lm_path"] = shipped.lm_path
    kind = _ALIASES.get(decoder, decoder) if decoder else None
    if kind is None:
        kind = "beam" if (fields.get("lm_path") or tuned_path) else "greedy"
    if kind == "greedy":
        if lm:
            raise ValueError("--lm needs --decoder beam (greedy decoding uses no language model)")
        return DecoderConfig(type="greedy")
    return DecoderConfig(type=kind, **fields)
