"""ConvBlock.forward_context: the block over frames whose time context the caller supplies equals
the padded forward pass (what streaming relies on)."""

from __future__ import annotations

import torch

from ds2ray.model.layers import ConvBlock


def test_forward_context_on_padded_input_equals_forward():
    torch.manual_seed(0)
    block = ConvBlock(2, 3, (5, 7), (2, 2), (2, 3), clip_value=20.0).eval()
    block.bn.running_mean.uniform_(-1, 1)
    x = torch.randn(1, 2, 16, 25)
    with torch.no_grad():
        expected = block(x, torch.tensor([13]))  # (1, 3, 8, 13)
        padded = torch.nn.functional.pad(x, (3, 3))  # the time padding, supplied by the caller
        got = block.forward_context(padded)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        # a window of exactly one kernel gives one frame
        assert block.forward_context(padded[..., 4: 11]).shape == (1, 3, 8, 1)
        torch.testing.assert_close(block.forward_context(padded[..., 4: 11])[..., 0], expected[..., 2])
