"""Inference: a checkpoint's acoustic model run over audio, in batches that are mostly speech.

- :mod:`ds2ray.inference.batches`: the one batch cutter (padded size = batch size x longest member),
  shared by training (:mod:`ds2ray.train.batching`), evaluation (:mod:`ds2ray.evaluate`), the runner
  below and, through it, serving.
- :mod:`ds2ray.inference.model`: :class:`~ds2ray.inference.model.AcousticModel`, built from a
  checkpoint alone: audio -> features -> per-frame log-probs; ``load_acoustic_model(..., backend=)``
  picks torch or onnxruntime.
- :mod:`ds2ray.inference.export`: ``ds2ray export``, a checkpoint as one self-contained ONNX file
  (front end, normaliser and network in the graph; configs and vocabulary in its metadata; ``--int8``).
- :mod:`ds2ray.inference.onnx_model`: :class:`~ds2ray.inference.onnx_model.OnnxAcousticModel`, the
  same interface on onnxruntime and numpy alone (no torch import).
"""
