"""How the ranks of one step agree on gradients and step statistics.

Two strategies, chosen by ``TrainConfig.grad_sync``:

- ``ddp``: torch's ``DistributedDataParallel`` (bucketed all-reduces overlapped with the backward
  pass), plus a second, small all-reduce of the step statistics. What a GPU wants (nccl runs on its
  own streams, so the overlap is real).
- ``flat``: every parameter's ``.grad`` is a view into one flat buffer whose tail holds the step
  statistics (loss sum, utterances, audio seconds, elapsed time, failures), and the step does *one*
  all-reduce of that buffer after the backward pass. On CPU ranks (gloo) this is faster: nothing to
  overlap with when every core already computes, no per-bucket hooks, no buffer broadcast before
  each forward, and one synchronisation per step instead of two. Its time is measurable apart
  from the backward pass, which ``bench/train.py`` reports.

``auto`` (the default) picks ``flat`` on CPU and ``ddp`` on GPU. ``grad_compression`` = ``bf16``
or ``fp16`` sends the gradients at half width in ``flat`` mode (half the bytes; not numerically
neutral, so off by default).

``flat`` carries its one all-reduce over one of two transports (``TrainConfig.grad_transport``):
the process group (gloo over TCP), or, for CPU ranks that share a host, shared memory
(:mod:`ds2ray.train.shm_allreduce`: the flat buffer itself lives in ``/dev/shm`` and the ranks add
each other's slices in place). ``auto`` picks shared memory where it can.

Both average gradients over ranks: DDP divides each rank's gradient by the world size and sums;
``flat`` sums and divides (equal to float rounding; ``tests/train/test_gradsync.py`` compares the two).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ds2ray.train.shm_allreduce import TRANSPORTS as GRAD_TRANSPORTS, SharedMemoryAllReduce, choose_transport

__all__ = ["GRAD_COMPRESSIONS", "GRAD_SYNC_MODES", "GRAD_TRANSPORTS", "FlatGradients", "broadcast_state",
           "resolve_mode"]

GRAD_SYNC_MODES = ("auto", "ddp", "flat")
GRAD_COMPRESSIONS = ("none", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_mode(mode: str, device: torch.device) -> str:
    """``auto`` -> ``ddp`` on CUDA, ``flat`` elsewhere."""
    if mode not in GRAD_SYNC_MODES:
        raise ValueError(f"grad_sync must be one of {GRAD_SYNC_MODES}, got {mode!r}")
    if mode == "auto":
        return "ddp" if device.type == "cuda" else "flat"
    return mode


class FlatGradients:
    """Gradients of ``params`` as views into one buffer with ``num_stats`` float slots after them.

    Call :meth:`zero` instead of ``optimizer.zero_grad`` (the views must stay), run the backward
    pass (autograd accumulates into the views in place), then :meth:`all_reduce` with the step's
    statistics: it averages the gradients over ranks and returns the statistics summed.
    ``transport`` ``shm`` keeps the buffer in shared memory and sums it there (every rank on one
    host), ``group`` all-reduces it through the default process group, ``auto`` takes ``shm`` where
    :func:`~ds2ray.train.shm_allreduce.choose_transport` allows; with two or more ranks, ``auto``
    and ``shm`` make building it a collective. ``transport`` then names the one in use.
    """

    def __init__(self, params: Sequence[torch.nn.Parameter], num_stats: int, world_size: int,
                 compression: str = "none", transport: str = "auto") -> None:
        if compression not in GRAD_COMPRESSIONS:
            raise ValueError(f"grad_compression must be one of {GRAD_COMPRESSIONS}, got {compression!r}")
        if transport not in GRAD_TRANSPORTS:
            raise ValueError(f"grad_transport must be one of {GRAD_TRANSPORTS}, got {transport!r}")
        if transport == "shm" and (compression != "none" or world_size < 2):
            raise ValueError("FlatGradients transport shm needs two or more ranks and no compression "
                             f"(got world_size {world_size}, compression {compression!r})")
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("FlatGradients: no parameter requires a gradient")
        dtypes = {p.dtype for p in self.params}
        devices = {p.device for p in self.params}
        if len(dtypes) != 1 or len(devices) != 1:
            raise ValueError(f"FlatGradients needs parameters of one dtype and device, got {dtypes} on {devices}")
        self.world_size = world_size
        self.compression = compression
        self.num_grads = sum(p.numel() for p in self.params)
        self.num_stats = num_stats
        dtype, device = next(iter(dtypes)), next(iter(devices))
        if world_size < 2 or compression != "none":
            transport = "group"  # one rank needs none; compression is for the network
        else:
            nbytes = (self.num_grads + num_stats) * torch.empty((), dtype=dtype).element_size()
            transport = choose_transport(transport, nbytes, device)  # a collective unless "group"
        self.shared: SharedMemoryAllReduce | None = None
        if transport == "shm":
            self.shared = SharedMemoryAllReduce(self.num_grads + num_stats, dtype)
            self.buffer = self.shared.buffer
        else:
            self.buffer = torch.zeros(self.num_grads + num_stats, dtype=dtype, device=device)
        self.transport = transport
        self._attach()

    def _attach(self) -> None:
        offset = 0
        self._pointers = []
        for p in self.params:
            n = p.numel()
            p.grad = self.buffer[offset: offset + n].view_as(p)
            self._pointers.append(p.grad.data_ptr())
            offset += n

    def zero(self) -> None:
        """Zero the gradients (and statistics) in place; re-attach views something replaced or dropped."""
        self.buffer.zero_()
        if any(p.grad is None or p.grad.data_ptr() != ptr for p, ptr in zip(self.params, self._pointers)):
            self._attach()

    def all_reduce(self, stats: Sequence[float]) -> list[float]:
        """Average the gradients over ranks, sum ``stats`` over ranks; one collective without compression."""
        if len(stats) != self.num_stats:
            raise ValueError(f"FlatGradients.all_reduce: expected {self.num_stats} statistics, got {len(stats)}")
        tail = self.buffer[self.num_grads:]
        tail.copy_(torch.tensor(list(stats), dtype=self.buffer.dtype))
        if self.world_size == 1:
            return [float(v) for v in tail.tolist()]
        import torch.distributed as dist

        if self.shared is not None:
            self.shared.all_reduce()
        elif self.compression == "none":
            dist.all_reduce(self.buffer)
        else:
            grads = self.buffer[: self.num_grads]
            half = grads.to(_DTYPES[self.compression])
            dist.all_reduce(half)
            grads.copy_(half)
            dist.all_reduce(tail)
        self.buffer[: self.num_grads].div_(self.world_size)
        return [float(v) for v in tail.tolist()]


def broadcast_state(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (one flat broadcast)."""
    import torch.distributed as dist

    tensors = [t for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()]
    if not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
    dist.broadcast(flat, src)
    offset = 0
    with torch.no_grad():
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset: offset + n].view_as(t).to(t.dtype))
            offset += n
