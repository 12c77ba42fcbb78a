"""The acoustic-model runner: batched log-probs equal one-by-one ones, in input order."""

from __future__ import annotations

import numpy as np

from ds2ray.inference.model import load_acoustic_model
from ds2ray.model.lengths import output_lengths
from ds2ray.testing.signals import speechlike
from ds2ray.testing.checkpoints import make_untrained_checkpoint


def test_log_probs_sorted_batches_equal_one_by_one(tmp_path):
    am = load_acoustic_model(make_untrained_checkpoint(str(tmp_path / "ck")))
    audios = [speechlike(d, seed=i) for i, d in enumerate([1.3, 0.4, 2.0, 0.9])] + [np.zeros(50, np.float32)]
    batched = am.log_probs(audios, max_batch_seconds=3.0)  # forces several batches
    assert len(batched) == 5
    assert batched[4].shape == (0, am.vocab.size)
    for audio, lp in zip(audios[:4], batched[:4]):
        frames = am.feature_config.num_frames(len(audio))
        assert lp.shape == (output_lengths(am.model_config, frames), am.vocab.size) and lp.dtype == np.float32
        np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, atol=1e-4)
        np.testing.assert_allclose(lp, am.log_probs([audio])[0], atol=1e-4)
