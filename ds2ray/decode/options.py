"""From what a user asked for to a :class:`~ds2ray.decode.base.DecoderConfig`.

Precedence: explicit settings > a ``--tuned`` file > the shipped model's LM and tuned.json (when the
checkpoint is a shipped model's name, e.g. ``en``, and neither ``lm`` nor ``tuned`` is given) >
:class:`DecoderConfig` defaults. The decoder is beam search when an LM, a tuned file or hotwords are
in play (a shipped model's LM included), else greedy; ``decoder="greedy"`` always wins (and refuses
``lm`` and ``hotwords``).
"""

from __future__ import annotations

from typing import Any

from ds2ray.decode.tuned import read_tuned, tuned_settings

_ALIASES = {"ctc_greedy": "greedy", "ctc_beam_search": "beam"}


def decoder_config_for(checkpoint: str | None = None, *, decoder: str | None = None, lm: str | None = None,
                       tuned: str | None = None, unigrams: str | None = None, alpha: float | None = None,
                       beta: float | None = None, beam_width: int | None = None,
                       beam_prune_logp: float | None = None, token_min_logp: float | None = None,
                       hotwords: str | None = None):
    """The decoder for ``checkpoint`` given these settings (``None`` = not given); see the module docstring.

    ``tuned`` is a path to a best.json. A shipped model's tuned.json is read the same way. ``lm``
    with ``decoder="greedy"`` is an error (greedy decoding uses no LM). ``hotwords``: a
    ``--hotwords`` spec, ``"word,phrase:weight,..."`` (:func:`~ds2ray.decode.hotwords.parse_hotwords`).
    """
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.decode.hotwords import parse_hotwords
    from ds2ray.pretrained import decoder_defaults

    shipped = decoder_defaults(checkpoint) if lm is None and tuned is None else None
    tuned_path = tuned or (shipped.tuned_path if shipped else None)
    fields: dict[str, Any] = tuned_settings(read_tuned(tuned_path), paths=shipped is None) if tuned_path else {}
    flags = {"alpha": alpha, "beta": beta, "beam_width": beam_width, "lm_path": lm, "unigrams": unigrams,
             "beam_prune_logp": beam_prune_logp, "token_min_logp": token_min_logp}
    fields.update({name: value for name, value in flags.items() if value is not None})
    phrases = parse_hotwords(hotwords, DecoderConfig.hotword_weight)
    if phrases:
        fields["hotwords"] = phrases
    if shipped is not None:
        fields["lm_path"] = shipped.lm_path
    kind = _ALIASES.get(decoder, decoder) if decoder else None
    if kind is None:
        kind = "beam" if (fields.get("lm_path") or tuned_path or phrases) else "greedy"
    if kind == "greedy":
        if lm:
            raise ValueError("--lm needs --decoder beam (greedy decoding uses no language model)")
        if phrases:
            raise ValueError("--hotwords needs --decoder beam (greedy decoding cannot favour words)")
        return DecoderConfig(type="greedy")
    return DecoderConfig(type=kind, **fields)
