"""Distributed DS2 training on Ray Train: configs, data path, the worker loop and the driver.

Data path: manifest -> :mod:`batching` (duration buckets, SortaGrad, per-rank shards) ->
:mod:`dataset` (audio -> augment -> features, in DataLoader workers) -> :mod:`loop` (one Ray Train
worker) <- :mod:`trainer` (the driver: ``TorchTrainer``).
"""
