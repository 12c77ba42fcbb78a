"""Which shipped model an exported ``.onnx`` file was made from, read without building a session.

``ds2ray export --checkpoint en`` records the shipped model in the file's ds2ray metadata
(:data:`~ds2ray.inference.onnx_model.METADATA_KEY`) as ``"shipped_model": {"name", "model_sha256"}``
(:func:`ds2ray.pretrained.shipped_entry`). :func:`ds2ray.pretrained.decoder_defaults` reads it back
(:func:`ds2ray.pretrained.exported_shipped_model`), so the exported file decodes like the model it came from: beam
search with the shipped LM and tuned alpha/beta, unless ``--decoder greedy``, ``--lm`` or
``--tuned`` say otherwise, exactly as for the shipped name itself.

The metadata is read with ``onnx`` (protobuf only, no graph optimisation), or with an onnxruntime
session where only the runtime is installed. Nothing here imports torch or :mod:`ds2ray.pretrained`
(which imports this module).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

#: The key in the ds2ray metadata naming the shipped model a file was exported from.
SHIPPED_KEY = "shipped_model"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
