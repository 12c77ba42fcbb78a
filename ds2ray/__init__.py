"""ds2ray: DeepSpeech2 end-to-end speech recognition on Ray.

The data path reads in module order: ``data.manifest`` -> ``data.audio`` -> ``data.features``
-> ``augment`` -> ``data.batching`` -> ``model`` -> ``decode`` -> ``metrics``.
"""

__version__ = "0.1.0"
