"""BidirectionalRNN.forward_stateful: a unidirectional layer run chunk by chunk with its state
carried equals the whole sequence; a bidirectional layer, or training mode, is refused."""

from __future__ import annotations

import pytest
import torch

from ds2ray.model.rnn import BidirectionalRNN


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "rnn"])
def test_chunks_with_carried_state_equal_the_whole_sequence(rnn_type):
    torch.manual_seed(0)
    layer = BidirectionalRNN(6, 5, rnn_type, bidirectional=False, batch_norm=True).eval()
    layer.bn.running_mean.uniform_(-1, 1)
    layer.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 17, 6)
    with torch.no_grad():
        whole = layer(x, torch.tensor([17]), torch.ones(1, 17, dtype=torch.bool))
        state, pieces = None, []
        for a, b in [(0, 1), (1, 7), (7, 7), (7, 17)]:
            out, state = layer.forward_stateful(x[:, a:b], state)
            pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=1e-6, rtol=0)


def test_bidirectional_and_training_layers_are_refused():
    with pytest.raises(ValueError, match="unidirectional"):
        BidirectionalRNN(4, 3).eval().forward_stateful(torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="eval mode"):
        BidirectionalRNN(4, 3, bidirectional=False).forward_stateful(torch.zeros(1, 2, 4))
