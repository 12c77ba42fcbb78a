"""Flat gradient sync against DDP: the same training on two gloo ranks, step for step; the flat
buffer summed through shared memory against gloo."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ds2ray.model.config import get_preset
from ds2ray.model.deepspeech2 import DeepSpeech2, ctc_loss
from ds2ray.train.gradsync import FlatGradients, broadcast_state, resolve_mode
from ds2ray.train.shm_allreduce import SHM_DIR, SharedMemoryAllReduce, choose_transport


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch(rank: int, step: int):
    g = torch.Generator().manual_seed(1000 * rank + step)
    b, t = 3, 60 + 10 * rank
    feats = torch.randn(b, t, 40, generator=g)
    lengths = torch.tensor([t, t - 7, t - 20])
    targets = torch.randint(1, 29, (b * 6,), generator=g)
    return feats, lengths, targets, torch.full((b,), 6)


RUNS = (("ddp", "none"), ("flat", "none"), ("flat", "bf16"), ("shm", "none"))  # (grad sync, compression)


def _train(rank: int, world: int, port: int, runs: tuple[tuple[str, str], ...], steps: int, out: str) -> None:
    """Each run of ``runs`` in turn on one gloo group (a spawn of two ranks costs seconds: one for all)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    results = {}
    try:
        for mode, compression in runs:
            torch.manual_seed(rank)  # different starts: the broadcast (flat) or DDP must equalise them
            model = DeepSpeech2(get_preset("tiny").model)
            grads = None
            if mode == "ddp":
                model = torch.nn.parallel.DistributedDataParallel(model)
            else:
                broadcast_state(model)
                grads = FlatGradients(list(model.parameters()), 2, world, compression,
                                      transport="shm" if mode == "shm" else "group")
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            losses = []
            for step in range(steps):
                feats, lengths, targets, target_lengths = _batch(rank, step)
                logits, out_lengths = model(feats, lengths)
                loss = ctc_loss(logits, out_lengths, targets, target_lengths)
                if grads is not None:
                    grads.zero()
                else:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                if grads is not None:
                    total, count = grads.all_reduce([float(loss), 1.0])
                else:
                    t = torch.tensor([float(loss), 1.0], dtype=torch.float64)
                    dist.all_reduce(t)
                    total, count = t.tolist()
                losses.append(total / count)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
            core = model.module if mode == "ddp" else model
            results[(mode, compression)] = {"losses": losses,
                                            "weights": torch.cat([p.detach().reshape(-1) for p in core.parameters()])}
            if grads is not None and grads.shared is not None:  # its files went as soon as both ranks mapped them
                results["shm_left"] = [f for f in os.listdir(SHM_DIR) if f.startswith(grads.shared.name)]
        results["transport"] = {"auto": choose_transport("auto", 1 << 20, torch.device("cpu")),
                                "group": choose_transport("group", 1 << 20, torch.device("cpu")),
                                "auto_too_big": choose_transport("auto", 1 << 60, torch.device("cpu"))}
        try:
            choose_transport("shm", 1 << 60, torch.device("cpu"))
        except ValueError as e:
            results["transport"]["shm_too_big"] = str(e)
        # three ranks' worth of slices from two: uneven bounds, and the sum lands in every buffer
        summed = SharedMemoryAllReduce(7)
        summed.buffer.copy_(torch.arange(7, dtype=torch.float32) * (rank + 1))
        summed.all_reduce()
        results["summed"] = [b.clone() for b in summed.buffers]
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Rank 0's losses and final weights of every run in :data:`RUNS`, 4 steps each."""
    out = tmp_path_factory.mktemp("gradsync") / "runs.pt"
    mp.start_processes(_train, args=(2, _free_port(), RUNS, 4, str(out)), nprocs=2, start_method="spawn")
    return torch.load(out)


def test_flat_sync_trains_like_ddp(runs):
    ddp_run, flat = runs[("ddp", "none")], runs[("flat", "none")]
    assert flat["losses"] == pytest.approx(ddp_run["losses"], rel=1e-5)
    assert torch.allclose(flat["weights"], ddp_run["weights"], atol=1e-5, rtol=1e-4)
    assert ddp_run["losses"][-1] < ddp_run["losses"][0]  # it trained


def test_shared_memory_sums_like_gloo(runs):
    gloo, shm = runs[("flat", "none")], runs[("shm", "none")]
    assert shm["losses"] == gloo["losses"]  # two ranks: a + b either way, bit for bit
    assert torch.equal(shm["weights"], gloo["weights"])
    assert runs["shm_left"] == []
    expected = torch.arange(7, dtype=torch.float32) * 3  # rank 0 wrote 1x, rank 1 2x
    assert all(torch.equal(b, expected) for b in runs["summed"])


def test_transport_choice(runs):
    choice = runs["transport"]
    assert choice["auto"] == "shm"  # both ranks on this host, room in /dev/shm
    assert choice["group"] == "group"
    assert choice["auto_too_big"] == "group"  # no room: auto falls back to gloo
    assert "grad_transport shm needs every rank on one host" in choice["shm_too_big"]
    with pytest.raises(ValueError, match="grad_transport"):
        choose_transport("tcp", 1, torch.device("cpu"))


def test_bf16_compressed_gradients_stay_close(runs):
    ddp_run, bf16 = runs[("ddp", "none")], runs[("flat", "bf16")]
    assert bf16["losses"] == pytest.approx(ddp_run["losses"], rel=2e-2)
    assert not torch.equal(bf16["weights"], ddp_run["weights"])  # compression is not neutral


def test_one_rank_views_and_stats():
    model = DeepSpeech2(get_preset("tiny").model)
    grads = FlatGradients(list(model.parameters()), 3, world_size=1)
    feats, lengths, targets, target_lengths = _batch(0, 0)
    logits, out_lengths = model(feats, lengths)
    ctc_loss(logits, out_lengths, targets, target_lengths).backward()
    expected = [p.grad.clone() for p in model.parameters()]
    assert grads.buffer[: grads.num_grads].abs().sum() > 0  # backward wrote into the flat buffer
    assert grads.all_reduce([1.0, 2.0, 3.5]) == [1.0, 2.0, 3.5]
    assert all(torch.equal(p.grad, e) for p, e in zip(model.parameters(), expected))
    grads.zero()
    assert all(float(p.grad.abs().sum()) == 0.0 for p in model.parameters())
    model.zero_grad(set_to_none=True)  # something dropped the views: zero() re-attaches them
    grads.zero()
    assert all(p.grad is not None and p.grad.data_ptr() >= grads.buffer.data_ptr() for p in model.parameters())


def test_bad_settings_are_named():
    model = DeepSpeech2(get_preset("tiny").model)
    with pytest.raises(ValueError, match="grad_compression"):
        FlatGradients(list(model.parameters()), 1, 1, "int3")
    with pytest.raises(ValueError, match="grad_sync"):
        resolve_mode("ring", torch.device("cpu"))
    with pytest.raises(ValueError, match="transport shm needs two or more ranks"):
        FlatGradients(list(model.parameters()), 1, 1, transport="shm")
    assert resolve_mode("auto", torch.device("cpu")) == "flat"
    assert resolve_mode("auto", torch.device("cuda")) == "ddp"


def test_train_config_names_bad_transport():
    from ds2ray.config import ConfigError
    from ds2ray.train.config import TrainConfig

    with pytest.raises(ConfigError, match="grad_transport must be one of"):
        TrainConfig(grad_transport="tcp")
    with pytest.raises(ConfigError, match="grad_transport shm works with grad_sync flat"):
        TrainConfig(grad_transport="shm", grad_compression="bf16")
    assert TrainConfig().grad_transport == "auto"
