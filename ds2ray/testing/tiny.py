"""An untrained tiny DS2 checkpoint for tests of everything downstream of training."""

from __future__ import annotations

import numpy as np
import torch

from ds2ray.data.features import FeatureConfig
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.data.vocab import Vocabulary


def make_tiny_checkpoint(path: str, vocab: Vocabulary | None = None,
                         feature_config: FeatureConfig | None = None, seed: int = 0) -> str:
    """Save an untrained ``tiny``-preset checkpoint folder at ``path``; returns the folder.

    Normaliser stats are the identity (mean 0, std 1). Loads with
    :func:`ds2ray.inference.model.load_acoustic_model`.
    """
    from ds2ray.model.checkpoint import save_checkpoint
    from ds2ray.model.config import get_preset
    from ds2ray.model.deepspeech2 import DeepSpeech2

    preset = get_preset("tiny")
    vocab = vocab or Vocabulary.english()
    feature_config = feature_config or preset.features
    config = preset.model.for_data(feature_config, vocab.size)
    torch.manual_seed(seed)
    model = DeepSpeech2(config)
    f = feature_config.num_features
    stats = NormalizerStats(np.zeros(f, np.float32), np.ones(f, np.float32), feature_config)
    save_checkpoint(str(path), model, model_config=config, feature_config=feature_config, vocab=vocab,
                    normalizer=stats)
    return str(path)
