"""Real noise and impulse-response files written per test module, listed by the real builder."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.data.corpora.noise import build_audio_list
from ds2ray.testing.signals import noise, write_audio

SR = 16000


def impulse_at(delay: int, length: int = 4000) -> np.ndarray:
    """A unit impulse at ``delay`` samples, zero-padded to ``length`` (long enough for the FFT path)."""
    h = np.zeros(length, np.float32)
    h[delay] = 1.0
    return h


def room_impulse(length: int = 4000, seed: int = 0) -> np.ndarray:
    """Direct path plus an exponentially decaying diffuse tail (~60 ms decay), peak 1."""
    rng = np.random.default_rng(seed)
    n = np.arange(length)
    h = 0.25 * rng.standard_normal(length) * np.exp(-n / (0.06 * SR / 6.9))
    h[0] = 1.0
    return h.astype(np.float32)


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
    write_audio(root / "unit.wav", impulse_at(0), subtype="FLOAT")
    write_audio(root / "delay800.wav", impulse_at(800), subtype="FLOAT")
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
