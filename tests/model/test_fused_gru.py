"""The fused CPU GRU: same outputs and gradients as ``torch.nn.GRU`` on the same parameters."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ds2ray.model import fused_gru, gru_ext
from ds2ray.model import rnn as rnn_module
from ds2ray.model.config import ModelConfig
from ds2ray.model.deepspeech2 import DeepSpeech2, ctc_loss
from ds2ray.model.fused_gru import GRURecurrence, gru_layer
from ds2ray.model.layers import reverse_padded
from ds2ray.model.rnn import BidirectionalRNN

torch.set_num_threads(1)


@pytest.fixture(scope="module", autouse=True, params=["cpp", "python"])
def time_loop(request):
    """Every test runs with the C++ time loop and with the Python one."""
    fused_gru.USE_CPP = request.param == "cpp"
    yield request.param
    fused_gru.USE_CPP = True


def test_cpp_loop_is_built():
    assert gru_ext.load() is not None, f"the C++ GRU recurrence did not build: {gru_ext.failure()}"


def test_cpp_loop_equals_python_loop(time_loop):
    torch.manual_seed(3)
    b, t, d, h = 5, 23, 2, 16
    gi = torch.randn(b, t, d * 3 * h, requires_grad=True)
    lengths = torch.tensor([23, 18, 3, 1, 23])
    b_ih = torch.randn(d, 3 * h, requires_grad=True)
    w_hh = (0.3 * torch.randn(d, 3 * h, h)).requires_grad_()
    b_hh = torch.randn(d, 3 * h, requires_grad=True)
    upstream = torch.randn(b, t, d * h)
    results = []
    for use_cpp in (True, False):
        fused_gru.USE_CPP = use_cpp
        out = GRURecurrence.apply(gi, lengths, b_ih, w_hh, b_hh)
        grads = torch.autograd.grad((out * upstream).sum(), (gi, b_ih, w_hh, b_hh))
        results.append((out.detach(), *grads))
    fused_gru.USE_CPP = time_loop == "cpp"
    for cpp, py in zip(*results):
        assert torch.allclose(cpp, py, atol=2e-6, rtol=1e-5), float((cpp - py).abs().max())


def stacked(grus: list[torch.nn.GRU], name: str) -> torch.Tensor:
    return torch.stack([getattr(g, name) for g in grus])


def test_recurrence_backward_matches_numerical_gradient():
    torch.manual_seed(0)
    b, t, d, h = 3, 5, 2, 4
    gi = torch.randn(b, t, d * 3 * h, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 3, 1])
    b_ih = torch.randn(d, 3 * h, dtype=torch.float64, requires_grad=True)
    w_hh = (0.5 * torch.randn(d, 3 * h, h, dtype=torch.float64)).requires_grad_()
    b_hh = torch.randn(d, 3 * h, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(GRURecurrence.apply, (gi, lengths, b_ih, w_hh, b_hh), eps=1e-6, atol=1e-6)


@settings(max_examples=12, deadline=None)
@given(directions=st.integers(1, 2), batch=st.integers(1, 5), steps=st.integers(1, 17),
       inputs=st.integers(1, 9), hidden=st.integers(1, 8), seed=st.integers(0, 2 ** 16))
def test_layer_equals_torch_gru(directions, batch, steps, inputs, hidden, seed):
    """ATen's GRU forward over x and, for direction 1, over x reversed within each length (and its
    output reversed back), concatenated: everywhere, padding frames included."""
    torch.manual_seed(seed)
    grus = [torch.nn.GRU(inputs, hidden, batch_first=True) for _ in range(directions)]
    x = torch.randn(batch, steps, inputs, requires_grad=True)
    lengths = torch.randint(1, steps + 1, (batch,))
    upstream = torch.randn(batch, steps, directions * hidden)

    parts = [grus[0](x)[0]]
    if directions == 2:
        parts.append(reverse_padded(grus[1](reverse_padded(x, lengths))[0], lengths))
    expected = torch.cat(parts, dim=-1)
    (expected * upstream).sum().backward()
    want_x, want_params = x.grad.clone(), [p.grad.clone() for g in grus for p in g.parameters()]
    x.grad = None
    for g in grus:
        g.zero_grad()

    got = gru_layer(x, lengths, stacked(grus, "weight_ih_l0"), stacked(grus, "bias_ih_l0"),
                    stacked(grus, "weight_hh_l0"), stacked(grus, "bias_hh_l0"))
    (got * upstream).sum().backward()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(x.grad, want_x, atol=1e-5, rtol=1e-4)
    for p, want in zip((p for g in grus for p in g.parameters()), want_params):
        torch.testing.assert_close(p.grad, want, atol=1e-5, rtol=1e-4)


def layer_outputs_and_grads(layer: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor, fused: bool,
                            monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rnn_module, "FUSED_CPU_GRU", fused)
    layer.zero_grad()
    x = x.clone().requires_grad_()
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    assert layer._use_fused(x) == fused
    out = layer(x, lengths, mask)
    (out * mask.unsqueeze(-1)).square().sum().backward()
    return out.detach() * mask.unsqueeze(-1), x.grad, {n: p.grad.clone() for n, p in layer.named_parameters()}


@pytest.mark.parametrize("kw", [dict(), dict(share_weights=True), dict(bidirectional=False)])
def test_layer_fused_equals_aten_with_padding(kw, monkeypatch):
    torch.manual_seed(1)
    layer = BidirectionalRNN(6, 5, "gru", batch_norm=False, **kw)
    lengths = torch.tensor([11, 7, 2])
    x = torch.randn(3, 11, 6)
    x[1, 7:] = 50.0  # padding must not reach valid frames or gradients
    fused = layer_outputs_and_grads(layer, x, lengths, True, monkeypatch)
    aten = layer_outputs_and_grads(layer, x, lengths, False, monkeypatch)
    torch.testing.assert_close(fused[0], aten[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fused[1], aten[1], atol=1e-5, rtol=1e-4)
    assert fused[2].keys() == aten[2].keys()
    for name in fused[2]:
        torch.testing.assert_close(fused[2][name], aten[2][name], atol=1e-5, rtol=1e-4, msg=name)
    assert float(fused[1][1, 7:].abs().sum()) == 0.0


def test_model_loss_and_gradients_equal_aten(monkeypatch):
    config = ModelConfig(num_features=20, num_classes=6, conv_channels=(3, 3), conv_kernels=((5, 5), (5, 5)),
                         conv_strides=((2, 2), (2, 1)), rnn_layers=3, rnn_hidden=8)
    torch.manual_seed(2)
    model = DeepSpeech2(config).eval()  # eval: batch norm statistics stay fixed between the two passes
    feats, lengths = torch.randn(3, 40, 20), torch.tensor([40, 33, 21])
    targets, target_lengths = torch.randint(1, 6, (9,)), torch.tensor([4, 3, 2])
    results = []
    for fused in (True, False):
        monkeypatch.setattr(rnn_module, "FUSED_CPU_GRU", fused)
        model.zero_grad()
        logits, out_lengths = model(feats, lengths)
        loss = ctc_loss(logits, out_lengths, targets, target_lengths)
        loss.backward()
        results.append((loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    for name, grad in results[0][1].items():
        torch.testing.assert_close(grad, results[1][1][name], atol=1e-5, rtol=1e-4, msg=name)


def test_inference_runs_fused_and_equals_aten(monkeypatch):
    """Eval-mode inference (no autograd) takes the fused GRU and gives ATen's log-probs on a padded
    batch of mixed lengths; tracing (ONNX export) keeps nn.GRU; LSTMs and float64 keep ATen."""
    layer = BidirectionalRNN(4, 3, "gru", batch_norm=False)
    x = torch.randn(2, 5, 4)
    with torch.inference_mode():
        assert layer._use_fused(x)
    assert not BidirectionalRNN(4, 3, "lstm", batch_norm=False)._use_fused(x)
    assert not layer._use_fused(x.double())

    config = ModelConfig(num_features=20, num_classes=6, conv_channels=(3, 3), conv_kernels=((5, 5), (5, 5)),
                         conv_strides=((2, 2), (2, 1)), rnn_layers=3, rnn_hidden=8)
    torch.manual_seed(3)
    model = DeepSpeech2(config).eval()
    feats, lengths = torch.randn(3, 40, 20), torch.tensor([40, 33, 21])
    outputs = []
    for fused in (True, False):
        monkeypatch.setattr(rnn_module, "FUSED_CPU_GRU", fused)
        with torch.inference_mode():
            logits, out_lengths = model(feats, lengths)
        valid = torch.arange(logits.shape[1])[None, :] < out_lengths[:, None]
        outputs.append(logits.log_softmax(-1) * valid.unsqueeze(-1))
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-4)

    seen = []
    monkeypatch.setattr(rnn_module, "FUSED_CPU_GRU", True)
    monkeypatch.setattr(BidirectionalRNN, "_fused_gru", lambda self, *a: seen.append(1) or pytest.fail("fused in a trace"))
    torch.jit.trace(model, (feats, lengths), check_trace=False)
    assert not seen


def recurrence_inputs(batch: int, steps: int, directions: int, hidden: int, seed: int):
    torch.manual_seed(seed)
    g = 3 * hidden
    return (torch.randn(batch, steps, directions * g), torch.randn(directions, g), 0.2 * torch.randn(directions, g, hidden),
            torch.randn(directions, g))


@pytest.fixture
def threads(request):
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(1)


@pytest.mark.parametrize("matvec_max_batch", [0, 1000], ids=["gemm", "matvec"])
@pytest.mark.parametrize("directions", [1, 2])
@pytest.mark.parametrize("hidden", [64, 8], ids=["packed", "unpackable"])  # 3H = 192 packs in blocks of 64; 24 does not
@pytest.mark.parametrize("threads", [1, 2], indirect=True, ids=["1thread", "2threads"])  # 2: directions at once
def test_inference_loop_equals_training_forward(matvec_max_batch, directions, hidden, threads, time_loop, monkeypatch):
    """The C++ inference loop (no autograd state, padded steps skipped) gives the training forward's
    outputs on every valid frame, 0 on padded ones, by matrix-vector product or by GEMM, with the
    directions one after the other or on two threads."""
    if time_loop != "cpp":
        pytest.skip("the inference loop is C++ only")
    monkeypatch.setattr(fused_gru, "MATVEC_MAX_BATCH", matvec_max_batch)
    gi, b_ih, w_hh, b_hh = recurrence_inputs(5, 19, directions, hidden, seed=4)
    lengths = torch.tensor([19, 11, 1, 0, 19])
    x = torch.randn(5, 19, 7)
    w_ih = torch.randn(directions, 3 * hidden, 7) * 0.3
    with torch.no_grad():
        got = gru_layer(x, lengths, w_ih, b_ih, w_hh, b_hh)
        monkeypatch.setattr(fused_gru, "USE_INFER_LOOP", False)
        want = gru_layer(x, lengths, w_ih, b_ih, w_hh, b_hh)
    valid = (torch.arange(19)[None, :] < lengths[:, None]).unsqueeze(-1)
    torch.testing.assert_close(got * valid, want * valid, atol=2e-6, rtol=1e-5)
    assert float((got * ~valid).abs().sum()) == 0.0
    assert float((want * valid).abs().sum()) > 0.0


def test_inference_weights_follow_parameter_changes(time_loop, monkeypatch):
    """The layer keeps its stacked and packed weights between inference calls, and rebuilds them when
    a parameter changes in place (an optimizer step) or is loaded."""
    torch.manual_seed(5)
    layer = BidirectionalRNN(6, 64, "gru", batch_norm=False).eval()
    x, lengths = torch.randn(2, 9, 6), torch.tensor([9, 4])
    mask = torch.arange(9)[None, :] < lengths[:, None]

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            cached = layer(x, lengths, mask)
            monkeypatch.setattr(fused_gru, "USE_INFER_LOOP", False)
            fresh = layer(x, lengths, mask)
            monkeypatch.setattr(fused_gru, "USE_INFER_LOOP", True)
        keep = mask.unsqueeze(-1)
        return cached * keep, fresh * keep

    first, fresh = both()
    torch.testing.assert_close(first, fresh, atol=2e-6, rtol=1e-5)
    assert torch.equal(both()[0], first)  # the cache is reused as is
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer(x, lengths, mask).square().sum().backward()
    optimizer.step()
    stepped, fresh = both()
    torch.testing.assert_close(stepped, fresh, atol=2e-6, rtol=1e-5)
    assert not torch.allclose(stepped, first)
    layer.load_state_dict(BidirectionalRNN(6, 64, "gru", batch_norm=False).state_dict())
    loaded, fresh = both()
    torch.testing.assert_close(loaded, fresh, atol=2e-6, rtol=1e-5)
    assert not torch.allclose(loaded, stepped)
