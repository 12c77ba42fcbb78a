"""``codec``, measured: MP3, Opus and Vorbis round trips keep length and alignment (codec delay
compensated) and stay close to the input while really being lossy; the config errors."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.augment import AugmentConfigError, AugmentPipeline
from ds2ray.augment.codec import LEVEL_STEP, codec_round_trip
from ds2ray.augment.waveform import rms_db
from ds2ray.testing.signals import speechlike

from .conftest import SR, lag_of


def codec(**params) -> list[dict]:
    return [{"type": "codec", "params": params, "prob": 1.0}]


@pytest.mark.parametrize("name,level,mode", [
    ("mp3", 0.5, "VARIABLE"), ("mp3", 0.95, "VARIABLE"),
    ("mp3", 0.9, "CONSTANT"),  # libsndfile keeps the encoder delay here: compensated
    ("mp3", 0.3, "AVERAGE"),
    ("opus", 0.5, None), ("opus", 0.95, None), ("vorbis", 0.8, None),
])
def test_round_trip_keeps_length_alignment_and_shape_of_the_speech(name, level, mode):
    x = speechlike(2.0, seed=7)
    y = AugmentPipeline.from_config(codec(formats=[name], min_compression_level=level, max_compression_level=level,
                                          mp3_bitrate_mode=mode or "VARIABLE")
                                    ).process_waveform(x, SR, AugmentPipeline.rng_for(0, 0, 0))
    assert y.shape == x.shape and y.dtype == np.float32
    assert abs(lag_of(x, y)) <= 1
    assert np.corrcoef(x, y)[0, 1] > 0.9
    assert abs(rms_db(y) - rms_db(x)) < 1.5
    # and it is lossy: the error is far above float rounding
    assert rms_db(y - x) - rms_db(x) > -60


def test_loud_input_is_not_clipped_by_the_encoder():
    x = 4.0 * speechlike(1.0, seed=8)  # peaks well above full scale
    y = codec_round_trip(x, SR, "mp3", 0.5, "VARIABLE")
    assert np.corrcoef(x, y)[0, 1] > 0.95 and abs(rms_db(y) - rms_db(x)) < 1.0


def test_rate_opus_does_not_take_goes_through_a_higher_one():
    sr = 22050
    x = speechlike(1.0, sample_rate=sr, seed=9)
    y = codec_round_trip(x, sr, "opus", 0.5)
    assert y.shape == x.shape and abs(lag_of(x, y)) <= 1 and np.corrcoef(x, y)[0, 1] > 0.9


def test_channels_and_tiny_inputs():
    x = np.stack([speechlike(1.0, seed=1), 0.5 * speechlike(1.0, seed=2)])
    for name in ("mp3", "opus"):
        y = codec_round_trip(x, SR, name, 0.5, "VARIABLE" if name == "mp3" else None)
        assert y.shape == x.shape
        assert np.corrcoef(x[0], y[0])[0, 1] > 0.9 and np.corrcoef(x[1], y[1])[0, 1] > 0.9
    for n in (0, 1, 5, 300):
        x = speechlike(0.1, seed=3)[:n]
        y = AugmentPipeline.from_config(codec()).process_waveform(x, SR, AugmentPipeline.rng_for(0, 0, n))
        assert y.shape == (n,) and np.isfinite(y).all()


def test_format_and_level_are_drawn_from_the_config_and_reproducible():
    pipe = AugmentPipeline.from_config(codec(formats=["mp3", "opus"], min_compression_level=0.6,
                                             max_compression_level=0.9))
    x = speechlike(0.3, seed=4)
    seen, levels = set(), set()
    for i in range(20):
        trace_a, trace_b = [], []
        a = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(1, 0, i), trace_a)
        b = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(1, 0, i), trace_b)
        np.testing.assert_array_equal(a, b)
        choice = trace_a[0].choice
        seen.add(choice["format"])
        levels.add(choice["compression_level"])
        assert 0.6 <= choice["compression_level"] <= 0.9
        assert abs(choice["compression_level"] / LEVEL_STEP - round(choice["compression_level"] / LEVEL_STEP)) < 1e-6
    assert seen == {"mp3", "opus"} and len(levels) >= 4


def test_opus_complexity_is_drawn_from_its_range():
    pipe = AugmentPipeline.from_config(codec(formats=["opus"], min_opus_complexity=2, max_opus_complexity=4))
    x = speechlike(0.3, seed=5)
    drawn = set()
    for i in range(30):
        trace: list = []
        pipe.process_waveform(x, SR, AugmentPipeline.rng_for(2, 0, i), trace)
        drawn.add(trace[0].choice["opus_complexity"])
    assert drawn == {2, 3, 4}


@pytest.mark.parametrize("params,message", [
    ({"formats": ["mp3", "aac"]}, "formats: unknown codec 'aac'; expected some of mp3, opus, vorbis"),
    ({"formats": "mp3"}, "parameter 'formats' must be a non-empty list, got 'mp3'"),
    ({"max_compression_level": 1.0}, "max_compression_level=1.0 is above the allowed maximum 0.99"),
    ({"min_compression_level": 0.9, "max_compression_level": 0.5},
     "min_compression_level=0.9 is greater than max_compression_level=0.5"),
    ({"mp3_bitrate_mode": "CBR"}, "mp3_bitrate_mode must be one of CONSTANT, AVERAGE, VARIABLE, got 'CBR'"),
    ({"bitrate": 64}, "unknown parameter 'bitrate'"),
    ({"max_opus_complexity": 11}, "max_opus_complexity=11 is above the allowed maximum 10"),
    ({"min_opus_complexity": 6, "max_opus_complexity": 2}, "min_opus_complexity=6 is greater than max_opus_complexity=2"),
])
def test_bad_params_name_the_field(params, message):
    with pytest.raises(AugmentConfigError) as err:
        AugmentPipeline.from_config(codec(**params))
    assert 'entry 0 ("codec")' in str(err.value) and message in str(err.value)
