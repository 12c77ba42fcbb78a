"""Untrained DS2 checkpoints for tests and benchmarks of everything downstream of training.

A trained one (greedy decoding reproduces three utterances) is :func:`ds2ray.testing.overfit.train_overfit`.
"""

from __future__ import annotations

import numpy as np
import torch

from ds2ray.data.features import FeatureConfig
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.data.vocab import Vocabulary


def make_untrained_checkpoint(path: str, vocab: Vocabulary | None = None,
                              feature_config: FeatureConfig | None = None, seed: int = 0,
                              preset: str = "tiny", **model_changes) -> str:
    """Save an untrained checkpoint folder of a model ``preset`` (``tiny``, ``demo``, ...) at ``path``;
    returns the folder.

    The weights are those of ``DeepSpeech2`` right after ``torch.manual_seed(seed)``; the vocabulary
    defaults to English and the features to the preset's; ``model_changes`` replace fields of the
    preset's :class:`~ds2ray.model.config.ModelConfig` (``bidirectional=False``: a streamable one).
    Normaliser stats are the identity (mean 0, std 1). Loads with
    :func:`ds2ray.inference.model.load_acoustic_model`.
    """
    from ds2ray.model.checkpoint import save_checkpoint
    from ds2ray.model.config import get_preset
    from ds2ray.model.deepspeech2 import DeepSpeech2

    model_preset = get_preset(preset)
    vocab = vocab or Vocabulary.english()
    feature_config = feature_config or model_preset.features
    config = model_preset.model.replace(**model_changes).for_data(feature_config, vocab.size)
    torch.manual_seed(seed)
    model = DeepSpeech2(config)
    f = feature_config.num_features
    stats = NormalizerStats(np.zeros(f, np.float32), np.ones(f, np.float32), feature_config)
    save_checkpoint(str(path), model, model_config=config, feature_config=feature_config, vocab=vocab,
                    normalizer=stats)
    return str(path)
