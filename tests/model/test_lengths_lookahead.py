"""right_context_frames is the network's real lookahead: changing the input frame just past it
leaves an output frame alone, changing the frame at its edge changes it; lookahead_seconds of the
online preset is 170 ms (<= 200 ms)."""

from __future__ import annotations

import pytest
import torch

from ds2ray.model.config import ModelConfig, get_preset
from ds2ray.model.deepspeech2 import DeepSpeech2
from ds2ray.model.lengths import lookahead_seconds, right_context_frames

torch.set_num_threads(1)


@pytest.mark.parametrize("kernels,strides,paddings", [
    (((3, 11), (3, 11)), ((2, 2), (2, 1)), ()),
    (((3, 5), (3, 3), (3, 4)), ((1, 1), (1, 2), (1, 2)), ((1, 2), (1, 0), (1, 1))),
])
def test_right_context_is_the_networks_lookahead(kernels, strides, paddings):
    cfg = ModelConfig(num_features=8, num_classes=5, conv_channels=(8,) * len(kernels), conv_kernels=kernels,
                      conv_strides=strides, conv_paddings=paddings, rnn_layers=1, rnn_hidden=4,
                      bidirectional=False)
    torch.manual_seed(0)
    model = DeepSpeech2(cfg).eval()
    frames, j = 80, 5  # output frame j starts at input frame j * time_stride
    edge = j * cfg.time_stride + right_context_frames(cfg)
    x = torch.randn(1, frames, 8)

    def out_frame(changed: int) -> torch.Tensor:
        y = x.clone()
        y[0, changed] += 5.0
        with torch.no_grad():
            return model(y, torch.tensor([frames]))[0][0, j]

    with torch.no_grad():
        base = model(x, torch.tensor([frames]))[0][0, j]
    torch.testing.assert_close(out_frame(edge + 1), base, atol=0, rtol=0)
    assert not torch.allclose(out_frame(edge), base)


def test_online_preset_lookahead():
    preset = get_preset("online")
    assert right_context_frames(preset.model) == 15 and not preset.model.bidirectional
    assert lookahead_seconds(preset.model, preset.features) == pytest.approx(0.17)
