"""Which shipped model an exported ``.onnx`` file was made from, read without building a session.

``ds2ray export --checkpoint en`` records the shipped model in the file's ds2ray metadata
(:data:`~ds2ray.inference.onnx_model.METADATA_KEY`) as ``"shipped_model": {"name", "model_sha256"}``
(:func:`shipped_entry`). :func:`ds2ray.pretrained.decoder_defaults` reads it back
(:func:`exported_shipped_model`), so the exported file decodes like the model it came from: beam
search with the shipped LM and tuned alpha/beta, unless ``--decoder greedy``, ``--lm`` or
``--tuned`` say otherwise, exactly as for the shipped name itself.

The metadata is read with ``onnx`` (protobuf only, no graph optimisation), or with an onnxruntime
session where only the runtime is installed. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ds2ray.pretrained import ShippedModel

log = logging.getLogger(__name__)

#: The key in the ds2ray metadata naming the shipped model a file was exported from.
SHIPPED_KEY = "shipped_model"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shipped_entry(checkpoint: str) -> dict[str, str] | None:
    """``{"name", "model_sha256"}`` when ``checkpoint`` names a shipped model, else ``None``."""
    from ds2ray.pretrained import find

    model = find(checkpoint)
    if model is None:
        return None
    return {"name": model.name, "model_sha256": file_sha256(model.checkpoint)}


def read_ds2ray_metadata(path: str) -> dict[str, Any] | None:
    """The ds2ray metadata of an ONNX file as a dict; ``None`` when it has none or cannot be read
    (the runner reports those files properly when it loads them)."""
    from ds2ray.inference.onnx_model import METADATA_KEY

    try:
        try:
            import onnx
        except ImportError:  # the runtime alone: a session (slower to make) has the metadata too
            import onnxruntime as ort

            raw = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
            text = raw.get(METADATA_KEY)
        else:
            props = onnx.load(path, load_external_data=False).metadata_props
            text = next((p.value for p in props if p.key == METADATA_KEY), None)
        return json.loads(text) if text else None
    except Exception as err:  # noqa: BLE001 - a broken file is the runner's to report, with its own message
        log.debug("%s: no readable ds2ray metadata (%s)", path, err)
        return None


def exported_shipped_model(path: str | None) -> "ShippedModel | None":
    """The shipped model an exported ``.onnx`` at ``path`` names, if it is installed; else ``None``.

    When the installed model's weights are not the ones exported (a newer ``en`` shipped since), the
    LM and tuned alpha/beta still apply, with a warning: they were tuned for the other weights."""
    from ds2ray.pretrained import find

    if not path or not str(path).lower().endswith(".onnx") or not os.path.isfile(path):
        return None
    meta = read_ds2ray_metadata(str(path))
    entry = meta.get(SHIPPED_KEY) if meta else None
    if not isinstance(entry, dict) or not entry.get("name"):
        return None
    model = find(str(entry["name"]))
    if model is None:
        log.warning("%s was exported from the shipped model %r, which is not installed: decoding without its LM "
                    "(pass --lm/--tuned, or install the model)", path, entry["name"])
        return None
    if entry.get("model_sha256") and entry["model_sha256"] != file_sha256(model.checkpoint):
        log.warning("%s was exported from other weights than the installed shipped model %r: using its LM and "
                    "tuned alpha/beta anyway (re-export to match, or pass --lm/--tuned)", path, model.name)
    return model
