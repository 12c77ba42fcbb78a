"""FeatureStream gives offline's feature frames whatever the piece sizes, and refuses features
that need the whole utterance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from ds2ray.config import ConfigError
from ds2ray.data.features import FeatureConfig, FeatureExtractor
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.streaming.frontend import FeatureStream
from ds2ray.testing.signals import speechlike

torch.set_num_threads(1)
WAVE = speechlike(0.35, seed=3)
CONFIGS = {"linear": FeatureConfig(kind="linear"), "fbank": FeatureConfig(kind="fbank", n_mels=40, n_fft=512)}
EXTRACTORS = {kind: FeatureExtractor(config) for kind, config in CONFIGS.items()}


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["linear", "fbank"]), cuts=st.lists(st.integers(0, len(WAVE)), max_size=8))
def test_pieces_of_any_size_give_the_offline_frames(kind, cuts):
    config, extractor = CONFIGS[kind], EXTRACTORS[kind]
    stats = NormalizerStats(np.linspace(-8, -2, config.num_features, dtype=np.float32),
                            np.linspace(1, 3, config.num_features, dtype=np.float32), config)
    expected = stats.apply(extractor(torch.from_numpy(WAVE)))
    stream = FeatureStream(extractor, stats)
    edges = sorted({0, len(WAVE), *cuts})
    got = torch.cat([stream.accept(WAVE[a:b]) for a, b in zip(edges, edges[1:])])
    assert got.shape == expected.shape == (config.num_frames(len(WAVE)), config.num_features)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)
    assert stream.frames == expected.shape[0]


def test_whole_utterance_features_are_refused():
    with pytest.raises(ConfigError, match="cmn"):
        FeatureStream(FeatureExtractor(FeatureConfig(kind="fbank", n_fft=512, cmn=True)), None)
    with pytest.raises(ConfigError, match="deltas"):
        FeatureStream(FeatureExtractor(FeatureConfig(kind="mfcc")), None)
    FeatureStream(FeatureExtractor(FeatureConfig(kind="mfcc", deltas=False)), None)
