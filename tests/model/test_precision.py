"""bf16 matrix products (ds2ray.model.precision): close to float32, float32 everywhere else, trainable."""

from __future__ import annotations

import copy

import pytest
import torch

from ds2ray.model import precision
from ds2ray.model.config import get_preset
from ds2ray.model.deepspeech2 import DeepSpeech2, ctc_loss


def _model(seed: int = 0) -> DeepSpeech2:
    torch.manual_seed(seed)
    return DeepSpeech2(get_preset("demo").model)


def _batch(model: DeepSpeech2, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(3, 120, model.config.num_features, generator=g)
    lengths = torch.tensor([120, 97, 64])
    return feats, lengths


def test_resolve_precision():
    assert precision.resolve_precision("fp32") is None
    assert precision.resolve_precision("bf16") is torch.bfloat16
    auto = precision.resolve_precision("auto", "cpu")
    assert auto is (torch.bfloat16 if precision.cpu_has_native_bf16() else None)
    with pytest.raises(ValueError, match="precision 'half' is not one of auto, fp32, bf16"):
        precision.resolve_precision("half")


def test_set_matmul_dtype_reaches_every_product():
    model = _model().set_matmul_dtype(torch.bfloat16)
    holders = [m for m in model.modules() if hasattr(m, "matmul_dtype")]
    assert len(holders) == 1 + len(model.convs) + len(model.rnns)
    assert all(m.matmul_dtype is torch.bfloat16 for m in holders)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32
    model.set_matmul_dtype(None)
    assert all(m.matmul_dtype is None for m in holders)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_bf16_forward_close_to_fp32(train):
    model = _model().train(train)
    feats, lengths = _batch(model)
    with torch.no_grad():
        ref, ref_len = model(feats, lengths)
        got, got_len = copy.deepcopy(model).set_matmul_dtype(torch.bfloat16)(feats, lengths)
    assert got.dtype == torch.float32 and torch.equal(ref_len, got_len)
    # bf16 keeps 8 bits of mantissa: ~0.4% relative per operand, averaged over long dot products
    rel = (got - ref).norm() / ref.norm()
    assert 1e-5 < rel < 0.03, rel  # not float32 (it did take the bf16 path), and close to it


def test_bf16_training_step_matches_fp32_gradients():
    """One CTC backward: every gradient float32 and pointing the same way as float32's."""
    feats, lengths = _batch(_model())
    targets = torch.randint(1, 29, (3, 12), generator=torch.Generator().manual_seed(2))
    target_lengths = torch.tensor([12, 10, 7])
    grads = {}
    for dtype in (None, torch.bfloat16):
        model = _model().set_matmul_dtype(dtype).train()
        logits, out_lengths = model(feats, lengths)
        ctc_loss(logits, out_lengths, targets, target_lengths).backward()
        grads[dtype] = torch.cat([p.grad.flatten() for p in model.parameters()])
        assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    cos = torch.nn.functional.cosine_similarity(grads[None], grads[torch.bfloat16], dim=0)
    assert cos > 0.99, cos


def test_inference_loop_takes_bf16_projection():
    """Without autograd the C++ inference loop runs on the bf16 projection's float32 result."""
    model = _model().eval()
    feats, lengths = _batch(model)
    with torch.inference_mode():
        ref = model(feats, lengths)[0]
        got = model.set_matmul_dtype(torch.bfloat16)(feats, lengths)[0]
        back = model.set_matmul_dtype(None)(feats, lengths)[0]
    assert torch.equal(back, ref)  # switching back is exact
    assert 1e-5 < ((got - ref).norm() / ref.norm()) < 0.03


def test_inference_reuses_the_cast_weights_until_they_change():
    """Serving casts each weight to bf16 once, not per forward; a changed weight is cast again."""
    model = _model().eval().set_matmul_dtype(torch.bfloat16)
    w = next(p for p in model.parameters() if p.dim() == 2)
    with torch.no_grad():
        first = precision.weight(w, torch.bfloat16)
        assert precision.weight(w, torch.bfloat16) is first  # cached
        w.mul_(2.0)  # an in-place write (load_state_dict copies in place too)
        again = precision.weight(w, torch.bfloat16)
    assert again is not first and torch.equal(again, (w.detach()).to(torch.bfloat16))
    assert precision.weight(w, torch.bfloat16).grad_fn is not None  # with autograd: cast inside the graph
    feats, lengths = _batch(model)
    with torch.inference_mode():
        a = model(feats, lengths)[0]
        b = model(feats, lengths)[0]  # second call on the cached casts (stacked GRU weights included)
    assert torch.equal(a, b)
    model.load_state_dict(_model(seed=5).state_dict())
    other = _model(seed=5).eval().set_matmul_dtype(torch.bfloat16)
    with torch.inference_mode():
        c = model(feats, lengths)[0]
        fresh = other(feats, lengths)[0]
    assert torch.equal(c, fresh)  # new weights, not the cached casts of the old ones
