"""output_lengths is the one length function: it must match what the real network produces."""

from __future__ import annotations

import torch
from hypothesis import given, settings, strategies as st

from ds2ray.model.config import ModelConfig, get_preset
from ds2ray.model.deepspeech2 import DeepSpeech2
from ds2ray.model.lengths import min_input_frames, output_features, output_lengths

torch.set_num_threads(1)


@st.composite
def configs(draw):
    n = draw(st.integers(1, 3))
    kernels = tuple((draw(st.sampled_from([3, 5, 7])), draw(st.sampled_from([1, 3, 5, 11]))) for _ in range(n))
    strides = tuple((draw(st.integers(1, 2)), draw(st.integers(1, 3))) for _ in range(n))
    return ModelConfig(num_features=16, num_classes=5, conv_channels=(2,) * n, conv_kernels=kernels,
                       conv_strides=strides, rnn_layers=1, rnn_hidden=4)


@settings(max_examples=30, deadline=None)
@given(cfg=configs(), lengths=st.lists(st.integers(1, 90), min_size=1, max_size=4))
def test_output_lengths_match_the_network(cfg, lengths):
    model = DeepSpeech2(cfg).eval()
    t = torch.tensor(lengths)
    feats = torch.randn(len(lengths), max(lengths), cfg.num_features)
    with torch.no_grad():
        logits, out_lengths = model(feats, t)
        # each utterance alone: the network's own output length is the truth
        for i, n in enumerate(lengths):
            alone, _ = model(feats[i:i + 1, :n], t[i:i + 1])
            assert alone.shape[1] == output_lengths(cfg, n)
    assert logits.shape[1] == output_lengths(cfg, max(lengths))
    assert out_lengths.tolist() == [output_lengths(cfg, n) for n in lengths]
    assert torch.equal(output_lengths(cfg, t), out_lengths)


def test_seed_and_demo_lengths():
    seed = get_preset("seed").model
    assert output_lengths(seed, 300) == 100  # time stride 3 overall
    assert output_features(seed) == 41  # 161 -> 81 -> 41 rows, as in the seed
    demo = get_preset("demo").model
    assert output_lengths(demo, 301) == 151
    assert output_features(demo) == 20


def test_min_input_frames_is_minimal():
    cfg = get_preset("demo").model
    for u in (1, 7, 40):
        n = min_input_frames(cfg, u)
        assert output_lengths(cfg, n) >= u and output_lengths(cfg, n - 1) < u
