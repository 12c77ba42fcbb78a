"""Real noise and impulse-response files written per test module, listed by the real builder, and
:func:`run`, which applies a config chain the way training does."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.augment import AugmentPipeline
from ds2ray.data.corpora.noise import build_audio_list
from ds2ray.testing.signals import click, noise, room_impulse, write_audio

SR = 16000


def lag_of(x: np.ndarray, y: np.ndarray, max_lag: int | None = None) -> int:
    """The shift of ``y`` against ``x`` at the cross-correlation peak (positive: y is late), searched
    within +-``max_lag`` samples (``None``: every lag)."""
    size = 1 << int(np.ceil(np.log2(len(x) + len(y))))
    corr = np.fft.irfft(np.fft.rfft(y.astype(np.float64), size) * np.conj(np.fft.rfft(x.astype(np.float64), size)),
                        size)
    limit = size // 2 - 1 if max_lag is None else max_lag
    lags = np.concatenate([np.arange(0, limit + 1), np.arange(-limit, 0)])
    return int(lags[int(np.argmax(np.concatenate([corr[:limit + 1], corr[size - limit:]])))])


def audio_arrays(max_length: int, channels: list[int | None], amplitude: float):
    """Hypothesis strategy for audio: float32 or float64, shape (N,) (channel count ``None``) or (C, N),
    N in [0, ``max_length``], samples in [-``amplitude``, ``amplitude``] (float32-representable)."""
    import hypothesis.extra.numpy as hnp
    from hypothesis import strategies as st

    dtype = st.sampled_from([np.float32, np.float64])
    length = st.integers(0, max_length)

    def build(dt, n, c):
        shape = (n,) if c is None else (c, n)
        return hnp.arrays(dt, shape, elements=st.floats(-amplitude, amplitude, width=32), fill=st.just(0.0))

    return st.tuples(dtype, length, st.sampled_from(channels)).flatmap(lambda t: build(*t))


def run(config: list[dict], audio: np.ndarray, seed: int = 0, trace: list | None = None) -> np.ndarray:
    """``audio`` through the augmentation ``config`` as utterance 0 of epoch 0 with ``seed``."""
    pipe = AugmentPipeline.from_config(config)
    return pipe.process_waveform(audio, SR, AugmentPipeline.rng_for(seed, 0, 0), trace)


@pytest.fixture(scope="module")
def noise_manifest(tmp_path_factory) -> str:
    """Two white-noise clips (2 s and 0.25 s, the short one gets looped) in a manifest."""
    root = tmp_path_factory.mktemp("noise")
    write_audio(root / "clips" / "long.wav", noise(2.0, amplitude=0.1, seed=1))
    write_audio(root / "clips" / "short.flac", noise(0.25, amplitude=0.3, seed=2))
    out = root / "manifest.noise"
    build_audio_list(root / "clips", out, what="noise")
    return str(out)


@pytest.fixture(scope="module")
def impulse_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("impulse")
    # unit impulses 4000 samples long: long enough for the FFT path
    write_audio(root / "unit.wav", click(0, 4000), subtype="FLOAT")
    write_audio(root / "delay800.wav", click(800, 4000), subtype="FLOAT")
    write_audio(root / "room" / "room.wav", room_impulse(), subtype="FLOAT")
    return root


def audio_list(path, *files) -> str:
    """A hand-written noise/impulse manifest with no ``text`` key (read leniently); paths below the
    manifest's folder are written relative to it."""
    import json

    import soundfile as sf

    def ref(f):
        return str(f.relative_to(path.parent)) if f.is_relative_to(path.parent) else str(f)

    lines = [json.dumps({"audio_filepath": ref(f), "duration": sf.info(str(f)).duration}) for f in files]
    path.write_text("\n".join(lines) + "\n")
    return str(path)
