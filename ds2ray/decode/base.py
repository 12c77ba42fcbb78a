"""One decoder interface, a name registry, and the frozen :class:`DecoderConfig`.

Shapes: ``T`` output frames, ``V`` vocabulary classes (blank = id 0), ``B`` batch.

A decoder turns CTC log-probabilities of one utterance, ``(T, V)``, into text (and, through
``hypotheses``, the frames of each word: :mod:`ds2ray.decode.timestamps`). Every decoder
implements :class:`Decoder`; :func:`build_decoder` picks the class by ``DecoderConfig.type`` from
the registry (``greedy``, ``beam``; :func:`register_decoder` adds more). Decoder modules are
imported on first use, so a worker that only beam-decodes never imports torch, and one that only
greedy-decodes never imports pyctcdecode.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ds2ray.config import ConfigBase, ConfigError
from ds2ray.decode.hotwords import HotwordError, normalise_config_hotwords

if TYPE_CHECKING:
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.decode.timestamps import Hypothesis


@dataclass(frozen=True)
class DecoderSettings(ConfigBase):
    """A decoder's settings, all but which decoder: declared once, for :class:`DecoderConfig` and for
    configs that carry a decoder's settings among their own (``serve.config.ServeConfig``).

    Used by the beam decoder: ``beam_width`` prefixes kept per frame; prefixes scoring
    ``beam_prune_logp`` below the best are dropped; characters under ``token_min_logp`` in a frame
    are not expanded (unless they are that frame's best). ``alpha`` weighs the LM (natural-log
    scale), ``beta`` is added per word. ``lm_path``: KenLM ARPA or binary file (``None``: CTC beam
    search without an LM); ``unigrams``: the LM's word list, one a line (``None``: from the ARPA
    file, or the ``.unigrams.txt`` next to a binary). ``unk_score_offset`` is added to the LM score
    of words outside the unigram list. ``hotwords``: words or phrases the search favours
    (:mod:`ds2ray.decode.hotwords`), each a phrase (weight ``hotword_weight``) or a ``(phrase,
    weight)`` pair; :func:`ds2ray.decode.hotwords.parse_hotwords` reads ``"word,phrase:weight"``.
    """

    beam_width: int = 100
    beam_prune_logp: float = -10.0
    token_min_logp: float = -5.0
    alpha: float = 0.5
    beta: float = 1.5
    lm_path: str | None = None
    unigrams: str | None = None
    unk_score_offset: float = -10.0
    hotwords: tuple[str | tuple[str, float], ...] = ()
    hotword_weight: float = 10.0

    def __post_init__(self) -> None:
        self._check_settings()

    def _check_settings(self) -> None:
        """Range checks and number types of the settings (subclasses call this from ``__post_init__``)."""
        owner = type(self).__name__
        if int(self.beam_width) < 1:
            raise ConfigError(f"{owner}.beam_width must be >= 1, got {self.beam_width}")
        if self.beam_prune_logp > 0 or self.token_min_logp > 0:
            raise ConfigError(f"{owner}.beam_prune_logp and token_min_logp are log-probabilities: use values <= 0")
        for name in ("alpha", "beta", "beam_prune_logp", "token_min_logp", "unk_score_offset", "hotword_weight"):
            object.__setattr__(self, name, float(getattr(self, name)))
        items = (self.hotwords,) if isinstance(self.hotwords, str) else self.hotwords
        try:
            object.__setattr__(self, "hotwords", normalise_config_hotwords(items, self.hotword_weight, owner))
        except HotwordError as err:
            raise ConfigError(str(err)) from err
        object.__setattr__(self, "beam_width", int(self.beam_width))

    def decoder_settings(self) -> dict[str, Any]:
        """The :class:`DecoderSettings` fields of this config, by name."""
        return {f.name: getattr(self, f.name) for f in fields(DecoderSettings)}


@dataclass(frozen=True)
class DecoderConfig(DecoderSettings):
    """How to turn log-probs into text: ``type``, a registered decoder name (``greedy`` or ``beam``),
    and its :class:`DecoderSettings`."""

    type: str = "greedy"

    def __post_init__(self) -> None:
        if self.type not in _REGISTRY:
            raise ConfigError(f"DecoderConfig.type: unknown decoder {self.type!r}; expected one of {sorted(_REGISTRY)}")
        self._check_settings()
        if self.type == "greedy" and self.lm_path:
            raise ConfigError("DecoderConfig: lm_path is set but type is 'greedy'; "
                              "use type='beam' to decode with an LM")

    def to_spec(self) -> dict[str, Any]:
        """``{"type": ..., "params": {...}}``: the registry's round-trip form."""
        d = self.to_dict()
        return {"type": d.pop("type"), "params": d}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "DecoderConfig":
        extra = set(spec) - {"type", "params"}
        if extra:
            raise ConfigError(f"decoder spec: unknown key(s) {sorted(extra)}; expected 'type' and 'params'")
        return cls.from_dict({"type": spec["type"], **dict(spec.get("params") or {})})


@runtime_checkable
class Decoder(Protocol):
    """Turns CTC log-probs into text. ``vocab`` gives the labels: column ``i`` is ``vocab.labels[i]``."""

    config: DecoderConfig
    vocab: "Vocabulary"

    def decode(self, log_probs: np.ndarray) -> str:
        """``log_probs``: ``(T, V)`` log-softmax outputs of one utterance -> text."""
        ...

    def decode_batch(self, log_probs: Sequence[np.ndarray]) -> list[str]:
        """A list of ``(T_i, V)`` matrices (or a padded ``(B, T, V)`` array) -> one text each."""
        ...

    def hypotheses(self, log_probs: Sequence[np.ndarray]) -> list["Hypothesis"]:
        """As :meth:`decode_batch`, each text with its words' output frames
        (:class:`~ds2ray.decode.timestamps.Hypothesis`; the same texts as ``decode_batch``)."""
        ...


#: decoder name -> ``"module:Class"``; classes take ``(vocab, config)``.
_REGISTRY: dict[str, str] = {
    "greedy": "ds2ray.decode.greedy:GreedyDecoder",
    "beam": "ds2ray.decode.beam:BeamSearchDecoder",
}


def register_decoder(name: str, target: str) -> None:
    """Register ``"module:Class"`` under ``name`` (the class is imported on first use)."""
    if ":" not in target:
        raise ValueError(f"decoder target must look like 'package.module:Class', got {target!r}")
    _REGISTRY[name] = target


def decoder_names() -> list[str]:
    return sorted(_REGISTRY)


def decoder_class(name: str) -> type:
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown decoder {name!r}; expected one of {sorted(_REGISTRY)}") from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def build_decoder(config: DecoderConfig | Mapping[str, Any], vocab: "Vocabulary") -> Decoder:
    """Instantiate the registered decoder for ``config`` (a config, a flat dict or a spec dict)."""
    if not isinstance(config, DecoderConfig):
        config = DecoderConfig.from_spec(config) if "params" in config else DecoderConfig.from_dict(config)
    return decoder_class(config.type)(vocab, config)


class VocabularyMismatchError(ValueError):
    """The log-probs, checkpoint, vocabulary file or LM disagree about the characters."""


def check_log_probs(log_probs: np.ndarray, vocab: "Vocabulary", what: str = "log-probs") -> np.ndarray:
    """Validate one ``(T, V)`` matrix against ``vocab`` and return it as float32."""
    arr = np.asarray(log_probs)
    if arr.ndim != 2:
        raise ValueError(f"{what}: expected a (T, V) matrix, got shape {tuple(arr.shape)}")
    if arr.shape[1] != vocab.size:
        raise VocabularyMismatchError(
            f"{what} have {arr.shape[1]} classes but the vocabulary has {vocab.size} "
            f"({len(vocab.chars)} characters + blank): the acoustic model and the decoder use different "
            "vocabularies. Decode with the vocabulary stored in the checkpoint."
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what}: expected floating-point log-probabilities, got dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)


def ray_worker_count(requested: int, *, gpus_each: float = 0.0, what: str = "workers") -> int:
    """``requested`` capped to what the running Ray cluster can ever schedule (one CPU each, plus
    ``gpus_each`` GPUs): an actor asking for more than the cluster has would wait forever."""
    import logging

    import ray

    res = ray.cluster_resources()
    cap = int(res.get("CPU", 1))
    if gpus_each:
        gpus = res.get("GPU", 0)
        if gpus < gpus_each:
            raise RuntimeError(f"{what}: a GPU was asked for but the Ray cluster has none "
                               f"(resources: {dict(sorted(res.items()))}); drop --use-gpu or add a GPU node")
        cap = min(cap, int(gpus // gpus_each))
    if requested > cap:
        logging.getLogger(__name__).warning("%s: %d requested, the Ray cluster fits %d; using %d",
                                            what, requested, cap, cap)
    return max(1, min(requested, cap))


def clean_text(text: str, language: str) -> str:
    """Collapse whitespace (English) or remove it (Mandarin, whose vocabulary has no space)."""
    return "".join(text.split()) if language == "zh" else " ".join(text.split())
