"""EnergyEndpointer: an endpoint after speech and enough trailing silence, at the same sample
whatever the chunking; silence alone or too little of it makes none."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ds2ray.config import ConfigError
from ds2ray.streaming.endpoint import EndpointConfig, EnergyEndpointer
from ds2ray.testing.signals import sine

SR = 16000


def audio(*parts: tuple[str, float]) -> np.ndarray:
    """("tone"|"quiet", seconds) pieces: a -9 dBFS tone or -60 dBFS noise."""
    rng = np.random.default_rng(0)
    out = [sine(440, d, SR, amplitude=0.5) if kind == "tone" else rng.normal(0, 1e-3, int(d * SR)).astype(np.float32)
           for kind, d in parts]
    return np.concatenate(out).astype(np.float32)


def endpoints(wave: np.ndarray, chunk: int, **config) -> list[int]:
    detector = EnergyEndpointer(EndpointConfig(**config), SR)
    return [p for i in range(0, len(wave), chunk) for p in detector.accept(wave[i: i + chunk])]


def test_endpoint_after_speech_and_trailing_silence():
    wave = audio(("quiet", 0.3), ("tone", 0.5), ("quiet", 0.8), ("tone", 0.3), ("quiet", 0.4))
    # speech ends at 0.8 s; 0.6 s of silence later: 1.4 s. The second tone's 0.4 s tail is too short.
    assert endpoints(wave, 160) == [int(1.4 * SR)]
    assert endpoints(wave, 160, min_trailing_silence=0.3) == [int(1.1 * SR), int(2.2 * SR)]
    assert endpoints(wave, 160, enabled=False) == []
    assert endpoints(wave, 160, silence_dbfs=-80) == []  # the quiet parts count as speech
    assert endpoints(audio(("quiet", 3.0)), 160) == []  # silence alone never ends a segment
    assert endpoints(audio(("tone", 0.05), ("quiet", 1.0)), 160) == []  # shorter than min_speech


@settings(max_examples=20, deadline=None)
@given(chunk=st.integers(1, 20000))
def test_endpoints_do_not_depend_on_the_chunking(chunk):
    wave = audio(("tone", 0.4), ("quiet", 0.7), ("tone", 0.2), ("quiet", 0.7))
    assert endpoints(wave, chunk) == [int(1.0 * SR), int(1.9 * SR)]


def test_config_is_validated():
    with pytest.raises(ConfigError, match="min_trailing_silence"):
        EndpointConfig(min_trailing_silence=0)
    assert EndpointConfig.from_dict(EndpointConfig(silence_dbfs=-30).to_dict()).silence_dbfs == -30
