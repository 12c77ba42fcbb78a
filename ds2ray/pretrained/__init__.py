"""Shipped models: named acoustic checkpoints with their LM and tuned decoder, as package data.

A shipped model is a folder ``ds2ray/pretrained/<name>/`` (today only ``en``) holding::

    model.pt          the self-describing checkpoint (weights stored fp16, upcast to fp32 on load)
    lm.bin            a KenLM binary, pruned and quantised (build_binary -a 22 -q 8 -b 8 trie)
    lm.unigrams.txt   the LM's word list (the beam decoder needs it beside a binary LM)
    tuned.json        {"alpha", "beta", ...}: what ``--tuned`` reads (:mod:`ds2ray.decode.tuned`)
    card.json         the measured numbers (see :mod:`ds2ray.pretrained.card`)
    MODEL.md          the model card, rendered from card.json

``ds2ray pretrained pack`` writes such a folder (:func:`ds2ray.pretrained.pack.pack_model`). Any
command that takes ``--checkpoint`` also takes a shipped model's name: the checkpoint loader
(:func:`ds2ray.model.checkpoint.model_file`) resolves it through :func:`resolve_checkpoint`, and
the decoders default to the model's LM and tuned alpha/beta (:func:`decoder_defaults`) unless
``--lm``/``--tuned`` are given.

Folders are searched in ``$DS2RAY_PRETRAINED_DIR`` (``os.pathsep``-separated) first, then in this
package. This module imports nothing heavy: the checkpoint loader imports it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

_log = logging.getLogger(__name__)

#: The model ``ds2ray serve``, ``transcribe --local`` and ``mic --local`` use without ``--checkpoint``.
DEFAULT_MODEL = "en"
#: Extra folders searched before the package's own (tests, a site-wide model store).
SEARCH_ENV = "DS2RAY_PRETRAINED_DIR"
#: Every shipped model folder, all files together, must stay under this (bytes; 20 MB).
MAX_BYTES = 20_000_000

MODEL_FILE = "model.pt"  # = ds2ray.model.checkpoint.MODEL_FILE (not imported: that module imports this one)
LM_FILE = "lm.bin"
UNIGRAMS_FILE = "lm.unigrams.txt"
TUNED_FILE = "tuned.json"
CARD_FILE = "card.json"
README_FILE = "MODEL.md"
#: What a model folder may hold; anything else (an older ``model-v1.pt``, an ARPA file) is refused.
FILES = (MODEL_FILE, LM_FILE, UNIGRAMS_FILE, TUNED_FILE, CARD_FILE, README_FILE)

PACKAGE_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class PretrainedNotFoundError(FileNotFoundError):
    """A name that is neither a checkpoint path nor a shipped model; the message lists the shipped ones."""


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model folder. Paths of optional files are ``None`` when the file is absent."""

    name: str
    folder: Path

    @property
    def checkpoint(self) -> str:
        return str(self.folder / MODEL_FILE)

    def _optional(self, name: str) -> str | None:
        path = self.folder / name
        return str(path) if path.is_file() else None

    @property
    def lm_path(self) -> str | None:
        return self._optional(LM_FILE)

    @property
    def tuned_path(self) -> str | None:
        return self._optional(TUNED_FILE)

    @property
    def card_path(self) -> str | None:
        return self._optional(CARD_FILE)

    def card(self) -> dict[str, Any]:
        """card.json as a dict (``{}`` when absent)."""
        return _json_or_empty(self.card_path, CARD_FILE)

    def tuned(self) -> dict[str, Any]:
        """tuned.json as a dict (``{}`` when absent), read by :func:`ds2ray.decode.tuned.read_tuned`."""
        from ds2ray.decode.tuned import read_tuned

        return {} if self.tuned_path is None else read_tuned(self.tuned_path)

    def beam_config(self):
        """The :class:`~ds2ray.decode.base.DecoderConfig` this model decodes with by default: beam search
        with its LM and the alpha/beta (and beam settings) of its tuned.json."""
        from ds2ray.decode.base import DecoderConfig
        from ds2ray.decode.tuned import tuned_settings

        return DecoderConfig(type="beam", lm_path=self.lm_path, **tuned_settings(self.tuned(), paths=False))

    def files(self) -> dict[str, int]:
        """Every file in the folder -> its size in bytes."""
        return {p.name: p.stat().st_size for p in sorted(self.folder.iterdir()) if p.is_file()}

    @property
    def size_bytes(self) -> int:
        return sum(self.files().values())


def _json_or_empty(path: str | None, what: str) -> dict[str, Any]:
    from ds2ray.config import read_json_object

    return {} if path is None else read_json_object(path, what)


def search_path() -> list[Path]:
    """Folders holding shipped models, in lookup order: ``$DS2RAY_PRETRAINED_DIR``, then the package."""
    extra = [Path(p) for p in os.environ.get(SEARCH_ENV, "").split(os.pathsep) if p]
    return [*extra, PACKAGE_DIR]


def _models_in(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and _NAME.match(p.name) and (p / MODEL_FILE).is_file())


def available(path: Sequence[Path] | None = None) -> list[str]:
    """Names of the shipped models found on the search path (a name shadowed later is listed once)."""
    names: set[str] = set()
    for folder in search_path() if path is None else path:
        names.update(_models_in(Path(folder)))
    return sorted(names)


def is_model_name(text: str) -> bool:
    """``text`` is spelled like a shipped model's name (``en``), not like a path, a file or a URL."""
    return bool(_NAME.match(text))


def get(name: str, path: Sequence[Path] | None = None) -> ShippedModel:
    """The shipped model ``name``; :class:`PretrainedNotFoundError` listing the available ones."""
    for folder in search_path() if path is None else path:
        candidate = Path(folder) / name
        if is_model_name(name) and (candidate / MODEL_FILE).is_file():
            return ShippedModel(name, candidate.resolve())
    names = available(path)
    raise PretrainedNotFoundError(
        f"no shipped model {name!r}; available: {', '.join(names) if names else '(none installed)'}. "
        f"Give a checkpoint folder (or its {MODEL_FILE}) instead, or add model folders with ${SEARCH_ENV} "
        "(see `ds2ray pretrained --help`)")


def _is_checkpoint_path(text: str) -> bool:
    if "://" in text:
        return True
    return os.path.isfile(text) or os.path.isfile(os.path.join(text, MODEL_FILE))


def find(checkpoint: str | None) -> ShippedModel | None:
    """The shipped model ``checkpoint`` names, or ``None`` (a path, a URL, or no such model). Never raises."""
    if not checkpoint or not is_model_name(checkpoint) or _is_checkpoint_path(checkpoint):
        return None
    try:
        return get(checkpoint)
    except PretrainedNotFoundError:
        return None


def resolve_checkpoint(checkpoint: str) -> str:
    """A ``--checkpoint`` value as a checkpoint path: a shipped model's name becomes its folder.

    Paths and URLs come back unchanged (a folder holding ``model.pt`` wins over a model of the same
    name). A bare name that is neither raises :class:`PretrainedNotFoundError` (``no shipped model
    'xx'; available: en``).
    """
    if not is_model_name(checkpoint) or _is_checkpoint_path(checkpoint):
        return checkpoint
    return str(get(checkpoint).folder)


@dataclass(frozen=True)
class DecoderDefaults:
    """What beam decoding with a shipped model uses unless told otherwise: its LM and its tuned.json
    (read like a ``--tuned`` file: alpha, beta and the beam settings they were tuned with)."""

    lm_path: str
    tuned_path: str | None


def decoder_defaults(checkpoint: str | None) -> DecoderDefaults | None:
    """The LM and tuned.json of the shipped model ``checkpoint`` names, or that an exported ``.onnx``
    of it names in its metadata (:func:`exported_shipped_model`);
    ``None`` for another path, a URL or a shipped model without an LM. Callers apply them only when
    the user gave neither ``--lm`` nor ``--tuned``, and make beam search the default decoder when they do."""
    model = find(checkpoint)
    if model is None and checkpoint and checkpoint.lower().endswith(".onnx"):
        model = exported_shipped_model(checkpoint)
    if model is None or model.lm_path is None:
        return None
    return DecoderDefaults(model.lm_path, model.tuned_path)


def shipped_entry(checkpoint: str) -> dict[str, str] | None:
    """``{"name", "model_sha256"}`` when ``checkpoint`` names a shipped model, else ``None``: what
    ``ds2ray export`` records under :data:`ds2ray.inference.onnx_metadata.SHIPPED_KEY`."""
    from ds2ray.inference.onnx_metadata import file_sha256

    model = find(checkpoint)
    if model is None:
        return None
    return {"name": model.name, "model_sha256": file_sha256(model.checkpoint)}


def exported_shipped_model(path: str | None) -> ShippedModel | None:
    """The shipped model an exported ``.onnx`` at ``path`` names, if it is installed; else ``None``.

    When the installed model's weights are not the ones exported (a newer ``en`` shipped since), the
    LM and tuned alpha/beta still apply, with a warning: they were tuned for the other weights."""
    from ds2ray.inference.onnx_metadata import SHIPPED_KEY, file_sha256, read_ds2ray_metadata

    if not path or not str(path).lower().endswith(".onnx") or not os.path.isfile(path):
        return None
    meta = read_ds2ray_metadata(str(path))
    entry = meta.get(SHIPPED_KEY) if meta else None
    if not isinstance(entry, dict) or not entry.get("name"):
        return None
    model = find(str(entry["name"]))
    if model is None:
        _log.warning("%s was exported from the shipped model %r, which is not installed: decoding without its LM "
                    "(pass --lm/--tuned, or install the model)", path, entry["name"])
        return None
    if entry.get("model_sha256") and entry["model_sha256"] != file_sha256(model.checkpoint):
        _log.warning("%s was exported from other weights than the installed shipped model %r: using its LM and "
                    "tuned alpha/beta anyway (re-export to match, or pass --lm/--tuned)", path, model.name)
    return model
