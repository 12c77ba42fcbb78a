"""PCM samples in pieces of any size -> the normalised feature frames offline extraction gives.

Shapes: ``N`` samples, ``T`` feature frames, ``F`` features.

Features are not centred (:mod:`ds2ray.data.features`): frame ``m`` is the window of samples
``[m * hop, m * hop + window)``. :class:`FeatureStream` keeps the samples after the last whole
frame's stride (fewer than a window plus a stride) and prepends them to the next piece, so every
frame is computed from exactly the samples offline extraction uses, whatever the piece sizes: a
10 ms piece may complete one frame, a 37 ms piece splits one. Nothing is flushed at the end:
offline drops the samples after the last whole window too.

The per-frame normaliser (global mean/std) streams as is. Per-utterance mean normalisation
(``FeatureConfig.cmn``) needs the whole utterance and MFCC deltas read two frames either side with
replicated edges, so those configurations are refused (:func:`check_streamable`).
"""

from __future__ import annotations

import numpy as np
import torch

from ds2ray.config import ConfigError
from ds2ray.data.features import FeatureConfig, FeatureExtractor
from ds2ray.data.normalizer import NormalizerStats


def check_streamable(config: FeatureConfig) -> None:
    """Raise :class:`ConfigError` for feature settings whose frames depend on the whole utterance."""
    if config.cmn:
        raise ConfigError("FeatureConfig.cmn (per-utterance mean normalisation) needs the whole utterance and "
                          "cannot stream exactly: train the streaming model with features.cmn=false")
    if config.kind == "mfcc" and config.deltas:
        raise ConfigError("FeatureConfig.deltas (MFCC deltas) read frames ahead with replicated edges and do not "
                          "stream exactly: use fbank or linear features, or mfcc with deltas=false")


class FeatureStream:
    """Samples in, normalised feature frames out, equal to offline extraction of the whole signal.

    ``accept(samples (N,) float32) -> (T, F)`` returns the frames the samples so far complete.
    """

    def __init__(self, extractor: FeatureExtractor, normalizer: NormalizerStats | None) -> None:
        check_streamable(extractor.config)
        self.extractor = extractor
        self.normalizer = normalizer
        self.config = extractor.config
        self._pending = np.zeros(0, np.float32)  # samples from the next frame's first one on
        self.frames = 0  # frames returned so far

    def accept(self, samples: np.ndarray) -> torch.Tensor:
        """The next samples (N,) float32 -> the (T, F) frames they complete (T may be 0)."""
        cfg = self.config
        buf = np.concatenate((self._pending, samples)) if self._pending.size else samples
        n = cfg.num_frames(len(buf))
        if n == 0:
            self._pending = np.array(buf, dtype=np.float32, copy=True)
            return torch.zeros((0, cfg.num_features), device=self.extractor.window.device)
        used = (n - 1) * cfg.hop_length + cfg.win_length
        wave = torch.as_tensor(np.ascontiguousarray(buf[:used]), device=self.extractor.window.device)
        with torch.no_grad():
            feats = self.extractor(wave)  # (n, F)
        self._pending = np.array(buf[n * cfg.hop_length:], dtype=np.float32, copy=True)
        self.frames += n
        return self.normalizer.apply(feats) if self.normalizer is not None else feats
