"""``reverb``, measured on a small bank of simulated rooms: length kept, direct path aligned (no
delay), level kept, the RIRs decay with the configured RT60, and everything is reproducible."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ds2ray.augment import AugmentConfigError, AugmentPipeline
from ds2ray.augment.reverb import ReverbAugmentor, tail_length
from ds2ray.augment.waveform import rms_db
from ds2ray.testing.signals import click, noise, speechlike

from .conftest import SR

PARAMS = {"min_rt60_s": 0.3, "max_rt60_s": 0.7, "bank_size": 5, "bank_seed": 3}


@pytest.fixture(scope="module")
def pipe() -> AugmentPipeline:
    pipe = AugmentPipeline.from_config([{"type": "reverb", "params": PARAMS, "prob": 1.0}])
    pipe.steps[0].augmentor.bank(SR)  # built once for the module (a few seconds)
    return pipe


@pytest.fixture(scope="module")
def aug(pipe) -> ReverbAugmentor:
    return pipe.steps[0].augmentor


def test_bank_rirs_decay_with_the_configured_rt60(aug):
    import pyroomacoustics as pra

    bank = aug.bank(SR)
    assert len(bank) == PARAMS["bank_size"]
    for room in bank:
        assert 0.3 <= room.rt60_s <= 0.7
        assert 0.5 <= room.distance_m <= 3.0 + 1e-9
        measured = pra.experimental.measure_rt60(room.rir, SR, decay_db=20)  # T20, extrapolated to 60 dB
        assert 0.7 * room.rt60_s < measured < 1.5 * room.rt60_s, (room.rt60_s, measured)
        # the direct path is the peak, scaled to 1, at the start (after the 40-tap filter half): the
        # propagation delay is gone
        assert room.rir[room.direct] == pytest.approx(1.0) and np.argmax(np.abs(room.rir)) == room.direct
        assert room.direct == 40
    assert len({round(r.rt60_s, 3) for r in bank}) == len(bank)  # really different rooms


@pytest.mark.parametrize("room", range(PARAMS["bank_size"]))
def test_click_stays_put_and_gets_a_decaying_tail(aug, room):
    x = click(4000, 2 * SR, amplitude=0.5)
    y = aug.apply(x, SR, room=room)
    assert y.shape == x.shape and y.dtype == np.float32
    assert abs(int(np.argmax(np.abs(y))) - 4000) <= SR // 1000  # direct path at lag 0 +- 1 ms
    assert np.all(np.abs(y[:4000 - 45]) < 1e-4 * np.abs(y).max())  # nothing arrives before the sound
    rt60 = aug.bank(SR)[room].rt60_s
    early = rms_db(y[4000 + int(0.02 * SR): 4000 + int(0.07 * SR)])
    late = rms_db(y[4000 + int(0.02 * SR) + int(rt60 / 3 * SR): 4000 + int(0.07 * SR) + int(rt60 / 3 * SR)])
    assert 12 < early - late < 35  # RT60 / 3 later the tail is ~20 dB down


@pytest.mark.parametrize("signal", ["speech", "noise"])
def test_output_is_aligned_and_keeps_its_level(pipe, signal):
    x = speechlike(3.0, seed=5) if signal == "speech" else noise(3.0, seed=5)
    for i in range(5):
        trace = []
        y = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(0, 0, i), trace)
        assert y.shape == x.shape and trace[0].choice["room"] in range(PARAMS["bank_size"])
        assert abs(rms_db(y) - rms_db(x)) < 0.01
        assert np.corrcoef(x, y)[0, 1] < 0.99  # it did something
        if signal == "noise":
            # white input: the cross-correlation is the RIR itself, whose peak (the direct path) must
            # sit at lag 0. (Voiced speech correlates with itself every pitch period: no test there.)
            n = len(x)
            corr = np.fft.irfft(np.fft.rfft(y, 2 * n) * np.conj(np.fft.rfft(x, 2 * n)), 2 * n)
            lag = int(np.argmax(np.abs(corr)))
            assert min(lag, 2 * n - lag) <= SR // 1000


def test_reproducible_per_sample_and_across_processes(pipe, aug):
    x = speechlike(1.0, seed=6)
    a = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(2, 0, 7))
    b = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(2, 0, 7))
    np.testing.assert_array_equal(a, b)
    # a fresh augmentor (another process, another Ray worker) simulates the very same bank
    fresh = ReverbAugmentor(**{**PARAMS, "bank_size": 2})
    for mine, theirs in zip(aug.bank(SR)[:2], fresh.bank(SR)):
        np.testing.assert_array_equal(mine.rir, theirs.rir)
    other_seed = ReverbAugmentor(**{**PARAMS, "bank_size": 1, "bank_seed": 4})
    assert other_seed.bank(SR)[0].rir.shape != aug.bank(SR)[0].rir.shape or \
        not np.array_equal(other_seed.bank(SR)[0].rir, aug.bank(SR)[0].rir)


def test_bank_travels_with_a_pickled_pipeline(pipe):
    copy = pickle.loads(pickle.dumps(pipe))
    assert copy == pipe and SR in copy.steps[0].augmentor.banks


def test_channels_get_the_same_room():
    aug = ReverbAugmentor(**{**PARAMS, "bank_size": 1})
    x = np.stack([speechlike(0.5, seed=1), speechlike(0.5, seed=1)])
    y = aug.apply(x, SR, room=0)
    assert y.shape == x.shape
    np.testing.assert_allclose(y[0], y[1])
    assert aug.apply(np.zeros(0, np.float32), SR, room=0).shape == (0,)


def test_tail_length_cuts_at_60_db():
    h = np.exp(-np.arange(10_000) / 500.0)  # energy decays 10 log10(e^2) dB per 500 samples
    cut = tail_length(h)
    assert abs(cut - 60 / (20 * np.log10(np.e)) * 500) < 5


@pytest.mark.parametrize("params,message", [
    ({"min_rt60_s": 0.9, "max_rt60_s": 0.5}, "min_rt60_s=0.9 is greater than max_rt60_s=0.5"),
    ({"max_rt60_s": 5.0}, "max_rt60_s=5.0 is above the allowed maximum 3.0"),
    ({"max_distance_m": 12.0}, "max_distance_m=12.0 does not fit in a room of at most max_room_side_m=8.0"),
    ({"bank_size": 0}, "bank_size must be in [1, 4096] rooms, got 0"),
    ({"min_room_side_m": 0.5}, "min_room_side_m=0.5 is below the allowed minimum"),
    ({"rt60": 0.5}, "unknown parameter 'rt60'"),
])
def test_bad_params_name_the_field(params, message):
    with pytest.raises(AugmentConfigError) as err:
        AugmentPipeline.from_config([{"type": "reverb", "params": params, "prob": 1.0}])
    assert 'entry 0 ("reverb")' in str(err.value) and message in str(err.value)


def test_impossible_rt60_fails_when_the_bank_is_built():
    aug = ReverbAugmentor(min_rt60_s=0.05, max_rt60_s=0.06, min_room_side_m=7.0, max_room_side_m=8.0,
                          min_room_height_m=3.0, max_room_height_m=3.5, bank_size=1)
    with pytest.raises(ValueError, match="raise min_rt60_s or lower max_room_side_m"):
        aug.bank(SR)


def test_prepare_builds_the_bank_once_and_pickles_with_it():
    import pickle

    from ds2ray.augment import AugmentPipeline

    pipeline = AugmentPipeline.from_config(
        [{"type": "reverb", "params": {"bank_size": 2, "max_rt60_s": 0.3}, "prob": 0.5}])
    aug = pipeline.steps[0].augmentor
    assert not aug.banks
    pipeline.prepare(8000)
    assert len(aug.bank(8000)) == 2
    copy = pickle.loads(pickle.dumps(pipeline))
    assert 8000 in copy.steps[0].augmentor.banks  # loader processes receive the rooms ready-made
