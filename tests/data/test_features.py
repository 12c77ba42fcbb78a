import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from ds2ray.config import ConfigError
from ds2ray.data.features import FeatureConfig, FeatureExtractor, mel_filterbank
from ds2ray.testing.signals import sine


def test_linear_is_the_ds2_spectrogram():
    cfg = FeatureConfig()
    assert (cfg.win_length, cfg.hop_length, cfg.fft_size, cfg.num_features) == (320, 160, 320, 161)
    feats = FeatureExtractor(cfg)(torch.from_numpy(sine(1000.0, 1.0)))
    assert feats.shape == (99, 161)
    # 1 kHz lands in bin 1000 / (16000 / 320) = 20
    assert int(feats.mean(0).argmax()) == 20


def test_linear_matches_numpy_reference():
    """Same as the seed's numpy spectrogram: Hann window, |rfft|^2 scaled, log."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000).astype(np.float32) * 0.1
    cfg = FeatureConfig()
    ours = FeatureExtractor(cfg).numpy(x)
    win = np.hanning(320)
    frames = np.lib.stride_tricks.sliding_window_view(x, 320)[::160]
    spec = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2 / (np.sum(win ** 2) * 16000)
    spec[:, 1:-1] *= 2
    ref = np.log(spec + cfg.eps)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_fbank_and_mfcc_shapes_and_peak():
    wave = torch.from_numpy(sine(1000.0, 0.5))
    fb = FeatureExtractor(FeatureConfig(kind="fbank"))(wave)
    assert fb.shape == (49, 80) and torch.isfinite(fb).all()
    mel_peak = int(fb.mean(0).argmax())
    fbank = mel_filterbank(16000, 512, 80, 20.0, 8000.0)
    assert fbank[32, mel_peak] > 0  # 1 kHz = bin 32 of a 512-point FFT sits under the peak filter
    mfcc = FeatureExtractor(FeatureConfig(kind="mfcc"))(wave)
    assert mfcc.shape == (49, 39) and torch.isfinite(mfcc).all()
    plain = FeatureExtractor(FeatureConfig(kind="mfcc", deltas=False))(wave)
    torch.testing.assert_close(mfcc[:, :13], plain)


def test_empty_mel_filter_is_refused():
    with pytest.raises(ConfigError, match="cover no FFT bin"):
        mel_filterbank(16000, 320, 128, 20.0, 8000.0)


def test_batched_matches_single_and_lengths():
    ex = FeatureExtractor(FeatureConfig(kind="fbank"))
    a, b = sine(300.0, 1.0), sine(600.0, 0.6)
    batch = torch.zeros(2, 16000)
    batch[0], batch[1, : len(b)] = torch.from_numpy(a), torch.from_numpy(b)
    feats, lengths = ex(batch, torch.tensor([16000, len(b)]))
    assert lengths.tolist() == [99, 59]
    torch.testing.assert_close(feats[1, :59], ex(torch.from_numpy(b)), rtol=1e-4, atol=1e-4)


def test_cmn_removes_a_fixed_channel_gain_and_ignores_padding():
    """In the log domain a per-band gain is a constant offset: per-utterance mean normalisation
    makes features of the filtered and the plain signal equal; batched with padding = one by one."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(16000) * 0.1).astype(np.float32)
    coloured = np.convolve(x, [1.0, 0.6], mode="same").astype(np.float32)  # a fixed spectral tilt
    plain, cmn = FeatureExtractor(FeatureConfig(kind="fbank")), FeatureExtractor(FeatureConfig(kind="fbank", cmn=True))
    a, b = cmn(torch.from_numpy(x)), cmn(torch.from_numpy(coloured))
    torch.testing.assert_close(a.mean(0), torch.zeros(80), atol=1e-5, rtol=0)
    raw_gap = (plain(torch.from_numpy(x)) - plain(torch.from_numpy(coloured))).abs().mean()
    assert (a - b).abs().mean() < 0.2 * raw_gap  # what remains is frame-to-frame estimation noise
    batch = torch.zeros(2, 16000)
    batch[0], batch[1, :9000] = torch.from_numpy(x), torch.from_numpy(x[:9000])
    feats, frames = cmn(batch, torch.tensor([16000, 9000]))
    torch.testing.assert_close(feats[0], a, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(feats[1, : frames[1]], cmn(torch.from_numpy(x[:9000])), rtol=1e-4, atol=1e-4)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 5000))
def test_num_frames_matches_output(n):
    cfg = FeatureConfig(kind="fbank")
    out = FeatureExtractor(cfg)(torch.zeros(n))
    assert out.shape[0] == cfg.num_frames(n) == int(cfg.num_frames(torch.tensor(n)))


def test_config_round_trip_and_validation(tmp_path):
    cfg = FeatureConfig(kind="mfcc", n_mfcc=20)
    cfg.save(tmp_path / "f.json")
    assert FeatureConfig.load(tmp_path / "f.json") == cfg
    with pytest.raises(ConfigError, match="kind"):
        FeatureConfig(kind="wavelet")
    with pytest.raises(ConfigError, match="unknown field"):
        FeatureConfig.from_dict({"kind": "linear", "bogus": 1})
