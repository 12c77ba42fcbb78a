"""EncoderStream runs a unidirectional DS2 chunk by chunk and equals the whole-utterance forward
pass, for any conv stack (kernels, strides, paddings, 1-3 layers) and any chunking;
ready_output_frames counts the frames a number of samples completes; streams stepped together
(accept_batch) equal each stream alone."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from ds2ray.config import ConfigError
from ds2ray.data.features import FeatureConfig
from ds2ray.model.config import ModelConfig
from ds2ray.model.deepspeech2 import DeepSpeech2
from ds2ray.model.lengths import layer_lengths
from ds2ray.streaming.state import EncoderStream, accept_batch, ready_output_frames

torch.set_num_threads(1)


@st.composite
def unidirectional_models(draw):
    n = draw(st.integers(1, 3))
    kernels, strides, paddings = [], [], []
    for _ in range(n):
        kt = draw(st.sampled_from([1, 2, 3, 5, 11]))
        kernels.append((3, kt))
        strides.append((draw(st.integers(1, 2)), draw(st.integers(1, min(3, kt)))))
        paddings.append((1, draw(st.integers(0, kt // 2))))
    cfg = ModelConfig(num_features=16, num_classes=6, conv_channels=(3,) * n, conv_kernels=tuple(kernels),
                      conv_strides=tuple(strides), conv_paddings=tuple(paddings), rnn_type=draw(
                          st.sampled_from(["gru", "lstm", "rnn"])), rnn_layers=2, rnn_hidden=8, bidirectional=False)
    torch.manual_seed(draw(st.integers(0, 100)))
    model = DeepSpeech2(cfg)
    for module in model.modules():  # non-trivial running statistics
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@settings(max_examples=25, deadline=None)
@given(model=unidirectional_models(), frames=st.integers(1, 60), cuts=st.lists(st.integers(0, 60), max_size=6),
       seed=st.integers(0, 1000))
def test_chunked_encoder_equals_the_forward_pass(model, frames, cuts, seed):
    assume(min(layer_lengths(model.config, frames)) > 0)  # the network itself needs a frame after each conv
    feats = torch.randn(frames, 16, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logits, lengths = model(feats[None], torch.tensor([frames]))
    expected = torch.log_softmax(logits[0, : int(lengths[0])], dim=-1)
    stream = EncoderStream(model)
    edges = sorted({0, frames, *[c for c in cuts if c <= frames]})
    pieces = [stream.accept(feats[a:b]) for a, b in zip(edges, edges[1:])] + [stream.finish()]
    got = torch.cat(pieces)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert stream.frames == expected.shape[0]


@settings(max_examples=25, deadline=None)
@given(model=unidirectional_models(), samples=st.integers(0, 8000))
def test_ready_output_frames_counts_what_the_encoder_emits_before_the_flush(model, samples):
    features = FeatureConfig(kind="fbank", n_mels=16, n_fft=512)
    frames = features.num_frames(samples)
    stream = EncoderStream(model)
    emitted = stream.accept(torch.randn(frames, 16)).shape[0]
    assert ready_output_frames(model.config, features, samples) == emitted


def test_bidirectional_training_and_skipping_models_are_refused():
    base = ModelConfig(num_features=16, num_classes=6, conv_channels=(3,), conv_kernels=((3, 3),),
                       conv_strides=((1, 1),), rnn_layers=1, rnn_hidden=4)
    with pytest.raises(ConfigError, match="unidirectional"):
        EncoderStream(DeepSpeech2(base).eval())
    with pytest.raises(ConfigError, match="eval mode"):
        EncoderStream(DeepSpeech2(base.replace(bidirectional=False)))
    with pytest.raises(ConfigError, match="kernel >= stride"):
        EncoderStream(DeepSpeech2(base.replace(bidirectional=False, conv_kernels=((3, 1),),
                                               conv_strides=((1, 2),))).eval())
    stream = EncoderStream(DeepSpeech2(base.replace(bidirectional=False)).eval())
    stream.finish()
    with pytest.raises(RuntimeError, match="after finish"):
        stream.accept(torch.zeros(3, 16))


@settings(max_examples=20, deadline=None)
@given(model=unidirectional_models(), sizes=st.lists(st.integers(1, 50), min_size=2, max_size=4),
       steps=st.lists(st.lists(st.integers(0, 12), min_size=4, max_size=4), min_size=1, max_size=6),
       seed=st.integers(0, 1000))
def test_streams_stepped_together_equal_each_ones_forward_pass(model, sizes, steps, seed):
    """accept_batch over streams of different lengths, fed different amounts per step (often none),
    gives each stream what the whole-utterance forward pass gives it: the padded batch and the packed
    RNN never leak one stream's frames or state into another's."""
    assume(all(min(layer_lengths(model.config, n)) > 0 for n in sizes))
    gen = torch.Generator().manual_seed(seed)
    feats = [torch.randn(n, 16, generator=gen) for n in sizes]
    streams = [EncoderStream(model) for _ in sizes]
    pos, got = [0] * len(sizes), [[] for _ in sizes]
    for step in steps + [[max(sizes)] * 4]:  # the last step delivers whatever is left
        pieces = []
        for i, n in enumerate(step[: len(sizes)]):
            pieces.append(feats[i][pos[i]: pos[i] + n])
            pos[i] = min(sizes[i], pos[i] + n)
        for i, out in enumerate(accept_batch(streams, pieces)):
            got[i].append(out)
    for i, (stream, f) in enumerate(zip(streams, feats)):
        got[i].append(stream.finish())
        with torch.no_grad():
            logits, lengths = model(f[None], torch.tensor([len(f)]))
        expected = torch.log_softmax(logits[0, : int(lengths[0])], dim=-1)
        torch.testing.assert_close(torch.cat(got[i]), expected, atol=1e-5, rtol=0)


def test_accept_batch_refuses_what_it_cannot_batch():
    cfg = ModelConfig(num_features=16, num_classes=6, conv_channels=(3,), conv_kernels=((3, 3),),
                      conv_strides=((1, 1),), rnn_layers=1, rnn_hidden=4, bidirectional=False)
    model, other = DeepSpeech2(cfg).eval(), DeepSpeech2(cfg).eval()
    a, b = EncoderStream(model), EncoderStream(other)
    with pytest.raises(ValueError, match="another model"):
        accept_batch([a, b], [torch.zeros(3, 16)] * 2)
    with pytest.raises(ValueError, match="appears twice"):
        accept_batch([a, a], [torch.zeros(3, 16)] * 2)
    with pytest.raises(ValueError, match="2 streams but 1"):
        accept_batch([a, EncoderStream(model)], [torch.zeros(3, 16)])
