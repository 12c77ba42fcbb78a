"""ds2ray: DeepSpeech2 end-to-end speech recognition on Ray.

The data path reads in module order: ``data.manifest`` -> ``data.audio`` -> ``data.features``
-> ``augment`` -> ``train.dataset`` / ``train.batching`` -> ``model`` -> ``inference`` -> ``decode``
-> ``metrics``.

Layers, lowest first; a module imports only from its own layer or the ones below it:

1. ground floor: ``tarmember`` (shard member references), ``fileio`` (paths and URLs, opening files
   and members, atomic writes), ``config`` (frozen dataclass configs), ``metrics`` (WER/CER);
2. data: ``data`` (manifests, audio, features, normaliser, vocabulary, shards, corpora), ``lm``,
   ``augment``;
3. model and decoding: ``model``, ``inference`` (the acoustic-model runner), ``decode``,
   ``pretrained`` (the shipped-model registry; its ``pack`` module sits with evaluation);
4. stages: ``train``, ``evaluate``, ``tune``, ``transcribe``, ``profile``, ``pipeline``;
5. the command line: ``commands``, ``cli``.

``tests/test_layers.py`` checks that no module imports one that imports it back (lazily or not)
and that the library never imports ``jobs``, ``serve``, ``data_upload``, ``bench`` or ``cluster``.
"""

__version__ = "0.1.0"
