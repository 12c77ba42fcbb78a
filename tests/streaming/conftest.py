"""Shared by the streaming tests: two espeak-ng sentences with a second of near-silence between
them, and an untrained ``online``-preset model whose normaliser holds that audio's real statistics
(so its untrained output varies from frame to frame and greedy decoding spells many labels)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from ds2ray.data.normalizer import NormalizerStats

SR = 16000
GAP = (1.5, 2.5)  # seconds: where the quiet gap between the sentences lies in ``speech``


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> np.ndarray:
    """Sentence (1.5 s), a 1 s gap of -70 dBFS noise, sentence: float32 at 16 kHz, about 4 s."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make setup installs it)")
    from ds2ray.testing.overfit import synthesize

    folder = tmp_path_factory.mktemp("speech")
    first = synthesize("open the door", folder / "a.wav")[: int(GAP[0] * SR)]
    first = np.pad(first, (0, int(GAP[0] * SR) - len(first)))
    second = synthesize("turn on the light", folder / "b.wav")
    gap = np.random.default_rng(0).normal(0, 10 ** (-70 / 20), int((GAP[1] - GAP[0]) * SR)).astype(np.float32)
    return np.concatenate([first, gap, second]).astype(np.float32)


@pytest.fixture(scope="session")
def online_model(tmp_path_factory, speech):
    """An untrained ``online`` AcousticModel, normalised with the statistics of ``speech``."""
    from ds2ray.inference.model import load_acoustic_model
    from ds2ray.testing.checkpoints import make_untrained_checkpoint

    torch.set_num_threads(1)
    folder = make_untrained_checkpoint(str(tmp_path_factory.mktemp("online") / "ckpt"), preset="online", seed=2)
    model = load_acoustic_model(folder)
    feats = model.extractor(torch.from_numpy(speech))
    model.normalizer = NormalizerStats(feats.mean(0).numpy(), feats.std(0).numpy(), model.feature_config)
    return model


@pytest.fixture(scope="session")
def offline_log_probs(online_model, speech) -> np.ndarray:
    """Offline (whole-utterance) log-probs of ``speech``, (T', V)."""
    return online_model.log_probs([speech])[0]
