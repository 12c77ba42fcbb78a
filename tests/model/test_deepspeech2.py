"""The DS2 network: padding never leaks into valid frames, shared weights are shared, it learns."""

from __future__ import annotations

import pytest
import torch

from ds2ray.config import ConfigError
from ds2ray.data.features import FeatureExtractor
from ds2ray.data.vocab import Vocabulary
from ds2ray.model.config import PRESETS, ModelConfig, get_preset
from ds2ray.model.deepspeech2 import DeepSpeech2, ctc_loss
from ds2ray.model.layers import reverse_padded
from ds2ray.model.rnn import BidirectionalRNN
from ds2ray.testing.signals import speechlike

torch.set_num_threads(1)


def small(**kw) -> ModelConfig:
    base = dict(num_features=20, num_classes=6, conv_channels=(3, 3), conv_kernels=((5, 5), (5, 5)),
                conv_strides=((2, 2), (2, 1)), rnn_layers=2, rnn_hidden=8)
    return ModelConfig(**{**base, **kw})


@pytest.mark.parametrize("kw", [dict(), dict(rnn_type="lstm"), dict(rnn_type="rnn", share_rnn_weights=True),
                                dict(bidirectional=False), dict(conv_channels=(2, 2, 2), conv_kernels=((5, 5),) * 3,
                                                                conv_strides=((2, 2), (2, 1), (1, 1)))])
def test_padding_does_not_change_valid_outputs(kw):
    torch.manual_seed(0)
    model = DeepSpeech2(small(**kw)).eval()
    lengths = torch.tensor([50, 31, 9])
    feats = torch.randn(3, 50, 20)
    feats[1, 31:] = 100.0  # garbage in the padding must not matter
    with torch.no_grad():
        batch, out_lengths = model(feats, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone, _ = model(feats[i:i + 1, :n], lengths[i:i + 1])
            torch.testing.assert_close(batch[i, : out_lengths[i]], alone[0], atol=1e-5, rtol=1e-4)


def test_unpacked_bidirectional_equals_packed_gru():
    torch.manual_seed(0)
    layer = BidirectionalRNN(6, 5, "gru", batch_norm=False)
    ref = torch.nn.GRU(6, 5, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(layer.forward_rnn, f"{name}_l0"))
            getattr(ref, f"{name}_l0_reverse").copy_(getattr(layer.backward_rnn, f"{name}_l0"))
    x = torch.randn(3, 12, 6)
    lengths = torch.tensor([12, 7, 3])
    mask = torch.arange(12)[None] < lengths[:, None]
    out = layer(x, lengths, mask)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = torch.nn.utils.rnn.pad_packed_sequence(ref(packed)[0], batch_first=True)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out[i, :n], expected[i, :n], atol=1e-6, rtol=1e-5)


def test_reverse_padded_reverses_within_length():
    x = torch.arange(10).view(2, 5, 1)
    out = reverse_padded(x, torch.tensor([5, 3]))
    assert out[0, :, 0].tolist() == [4, 3, 2, 1, 0]
    assert out[1, :, 0].tolist() == [7, 6, 5, 8, 9]


def test_shared_rnn_weights_are_one_tensor():
    shared = DeepSpeech2(small(share_rnn_weights=True))
    separate = DeepSpeech2(small())
    layer = shared.rnns[0]
    assert layer.backward_rnn.weight_ih_l0 is layer.forward_rnn.weight_ih_l0
    assert shared.num_parameters() < separate.num_parameters()
    out, _ = shared(torch.randn(2, 30, 20), torch.tensor([30, 20]))
    out.sum().backward()
    assert layer.forward_rnn.weight_ih_l0.grad is not None


def test_presets_and_config_round_trip():
    assert 3.5e6 < DeepSpeech2(get_preset("demo").model.for_data(get_preset("demo").features, 29)).num_parameters() < 4.2e6
    seed = get_preset("seed").model
    assert seed.conv_kernels == ((41, 11), (21, 11)) and seed.conv_strides == ((2, 3), (2, 1))
    assert seed.rnn_hidden == 2048 and seed.share_rnn_weights and seed.num_features == 161
    for preset in PRESETS.values():
        assert ModelConfig.from_dict(preset.model.to_dict()) == preset.model
        assert preset.model.num_features == preset.features.num_features
    with pytest.raises(ConfigError, match="conv"):
        ModelConfig(conv_channels=(32,), conv_kernels=((3, 3), (3, 3)), conv_strides=((1, 1),))
    with pytest.raises(ConfigError, match="rnn_type"):
        ModelConfig(rnn_type="transformer")


def test_overfits_one_small_batch():
    """Loss on one fixed batch falls by >= 80%: the whole forward/backward path can learn.

    Measured from step 10, after the trivial first drop (an untrained output layer gives a huge
    initial CTC loss that any bias change removes), so the drop is real learning."""
    torch.manual_seed(0)
    preset = get_preset("tiny")
    vocab = Vocabulary.english()
    model = DeepSpeech2(preset.model.for_data(preset.features, vocab.size))
    extractor = FeatureExtractor(preset.features)
    texts = ["go", "stop", "yes"]
    waves = [speechlike(0.6 + 0.2 * i, seed=i) for i in range(3)]
    feats = [extractor(torch.from_numpy(w)) for w in waves]
    feats = [(f - f.mean(0)) / (f.std(0) + 1e-3) for f in feats]
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    lengths = torch.tensor([f.shape[0] for f in feats])
    targets = torch.cat([torch.tensor(vocab.encode(t)) for t in texts])
    target_lengths = torch.tensor([len(t) for t in texts])
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(100):
        logits, out_lengths = model(x, lengths)
        loss = ctc_loss(logits, out_lengths, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.2 * losses[10], losses[::10]
