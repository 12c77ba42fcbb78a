import json

import numpy as np
import pytest
import torch

from ds2ray.data.features import FeatureConfig, FeatureExtractor
from ds2ray.data.manifest import ManifestEntry, read_manifest
from ds2ray.data.normalizer import NormalizerStats, compute_mean_std
from ds2ray.testing.signals import speechlike, write_audio


@pytest.fixture
def corpus(tmp_path):
    entries = []
    for i in range(6):
        p = write_audio(tmp_path / f"u{i}.wav", speechlike(0.5 + 0.1 * i, seed=i))
        entries.append(ManifestEntry(str(p), 0.5 + 0.1 * i, "x"))
    return entries


def test_mean_std_matches_direct_computation(corpus, tmp_path):
    cfg = FeatureConfig(kind="fbank")
    stats = compute_mean_std(corpus, cfg, num_samples=0, num_workers=2, progress=False)
    ex = FeatureExtractor(cfg)
    import soundfile as sf

    allf = np.concatenate([ex.numpy(sf.read(e.audio_filepath, dtype="float32")[0]) for e in corpus])
    np.testing.assert_allclose(stats.mean, allf.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.std, allf.std(0), rtol=1e-3, atol=1e-3)
    assert stats.num_utterances == 6 and stats.num_frames == len(allf)
    normed = stats.apply(torch.from_numpy(allf))
    assert abs(float(normed.mean())) < 1e-3 and abs(float(normed.std()) - 1) < 0.02
    stats.save(tmp_path / "s.npz")
    back = NormalizerStats.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.mean, stats.mean)
    assert back.feature_config == cfg and back.num_frames == stats.num_frames
    with pytest.raises(ValueError, match="recompute"):
        back.check_compatible(FeatureConfig(kind="linear"))


def test_sampling_and_bad_audio_skipped(corpus, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio" * 50)
    entries = corpus + [ManifestEntry(str(broken), 1.0, "x"), ManifestEntry(str(tmp_path / "gone.wav"), 1.0, "x")]
    stats = compute_mean_std(entries, FeatureConfig(), num_samples=0, num_workers=1, progress=False)
    assert stats.num_utterances == 6 and stats.num_skipped == 2
    sampled = compute_mean_std(entries, FeatureConfig(), num_samples=3, num_workers=1, seed=1, progress=False)
    assert sampled.num_utterances + sampled.num_skipped == 3
    with pytest.raises(ValueError, match="no usable audio"):
        compute_mean_std(entries[-2:], FeatureConfig(), num_workers=1, progress=False)
    with pytest.raises(ValueError, match="no utterances"):
        compute_mean_std([], FeatureConfig(), progress=False)


def test_constant_feature_gets_floored_std(tmp_path):
    p = write_audio(tmp_path / "silence.wav", np.zeros(8000, np.float32))
    stats = compute_mean_std([ManifestEntry(str(p), 0.5, "x")], FeatureConfig(), num_workers=1, progress=False)
    assert (stats.std >= 1e-3).all() and np.isfinite(stats.mean).all()


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, foo=np.zeros(3))
    with pytest.raises(ValueError, match="not a ds2ray mean/std file"):
        NormalizerStats.load(bad)


def test_cli_mean_std(corpus, tmp_path, capsys):
    from ds2ray.cli import main

    m = tmp_path / "m.jsonl"
    m.write_text("\n".join(json.dumps(e.to_dict()) for e in corpus) + "\n")
    out = tmp_path / "stats.npz"
    assert main(["mean-std", "--manifest", str(m), "--out", str(out), "--feature", "fbank",
                 "--num-samples", "4", "--num-workers", "1"]) == 0
    stats = NormalizerStats.load(out)
    assert stats.feature_config.kind == "fbank" and stats.num_utterances == 4
    assert len(read_manifest(m)) == 6
    cmn = tmp_path / "cmn.npz"
    assert main(["mean-std", "--manifest", str(m), "--out", str(cmn), "--feature", "fbank", "--cmn",
                 "--num-samples", "0", "--num-workers", "1"]) == 0
    with_cmn = NormalizerStats.load(cmn)
    assert with_cmn.feature_config == stats.feature_config.replace(cmn=True)
    assert np.abs(with_cmn.mean).max() < 1e-3  # each utterance's mean was removed first
