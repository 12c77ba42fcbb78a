"""Summing one flat buffer over the ranks of one host through shared memory.

On CPU, ``torch.distributed``'s gloo backend all-reduces over TCP, even between two processes on
the same machine: the demo model's 15.6 MB of gradients cross the loopback device both ways every
step, as kernel copies (system time) on the very cores that train. Ranks that share a host can
instead map each other's gradient buffers (files in ``/dev/shm``) and add them up in place:

1. every rank's backward pass writes its gradients straight into its own mapped buffer;
2. a barrier (a tiny gloo collective) says every buffer holds this step's values;
3. rank ``r`` sums slice ``r`` of all the buffers (in rank order, so every rank gets the same bits)
   and writes the sum into slice ``r`` of *every* buffer: no other rank touches that slice now;
4. a second barrier; every buffer now holds the sum.

Each rank reads and writes ~2x the buffer once: a few milliseconds instead of tens. The files are
unlinked as soon as every rank has mapped them, so nothing is left in ``/dev/shm`` when a worker
dies. With two ranks the result is bitwise the one gloo computes (float addition commutes); with
more, it may differ from gloo's ring order by float rounding.

Only for ranks on one host (:func:`choose_transport` checks hostnames and free space in
``/dev/shm``); a multi-host group keeps gloo. Why not a library: Intel's oneCCL (the ``ccl``
backend) has a shared-memory transport, but its PyTorch bindings are built per torch release and
none matches the torch this project pins; DeepSpeed's CPU shm all-reduce needs a JIT-built op and
DeepSpeed itself. This is 1 file and a barrier.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import torch

TRANSPORTS = ("auto", "shm", "group")
SHM_DIR = "/dev/shm"


def _dist():
    import torch.distributed as dist

    return dist


def same_host_with_room(nbytes: int, directory: str = SHM_DIR) -> bool:
    """True on every rank when all ranks run on one host and ``directory`` has room for all their
    buffers (world x ``nbytes``, with a quarter to spare). A collective: every rank must call it."""
    dist = _dist()
    world = dist.get_world_size()
    try:
        st = os.statvfs(directory)
        room = st.f_bavail * st.f_frsize >= 1.25 * world * nbytes
    except OSError:
        room = False
    mine = (socket.gethostname(), room)
    everyone: list = [None] * world
    dist.all_gather_object(everyone, mine)
    return len({host for host, _ in everyone}) == 1 and all(ok for _, ok in everyone)


def choose_transport(requested: str, nbytes: int, device: torch.device) -> str:
    """``shm`` or ``group`` for a flat buffer of ``nbytes`` on ``device``.

    ``auto``: shared memory for CPU ranks that all share a host with room in ``/dev/shm``, else the
    process group. ``shm`` insists (and raises, naming the reason, where it cannot work).
    A collective for ``auto`` and ``shm``: every rank must call it.
    """
    if requested not in TRANSPORTS:
        raise ValueError(f"grad_transport must be one of {TRANSPORTS}, got {requested!r}")
    if requested == "group":
        return "group"
    if device.type != "cpu":
        if requested == "shm":
            raise ValueError(f"grad_transport shm needs CPU ranks, this one trains on {device}; use auto or group")
        return "group"
    ok = same_host_with_room(nbytes)
    if requested == "shm" and not ok:
        raise ValueError(f"grad_transport shm needs every rank on one host and {SHM_DIR} with room for "
                         f"{_dist().get_world_size()} x {nbytes / 1e6:.1f} MB; use auto (falls back to the "
                         "process group) or group")
    return "shm" if ok else "group"


class SharedMemoryAllReduce:
    """A ``numel``-element buffer per rank in shared memory, summed over ranks by :meth:`all_reduce`.

    ``buffer`` is this rank's (a CPU tensor: write into it, e.g. as the gradients' storage).
    A collective to build: every rank of the default process group must construct it together.
    """

    def __init__(self, numel: int, dtype: torch.dtype = torch.float32, directory: str = SHM_DIR) -> None:
        dist = _dist()
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        if self.world_size < 2 or numel < 1:
            raise ValueError(f"SharedMemoryAllReduce needs two or more ranks and a non-empty buffer "
                             f"(world size {self.world_size}, {numel} elements)")
        self.numel = numel
        names = [f"ds2ray-grads-{uuid.uuid4().hex[:12]}" if self.rank == 0 else None]
        dist.broadcast_object_list(names, src=0)
        self.name = names[0]
        paths = [Path(directory) / f"{self.name}-{r}" for r in range(self.world_size)]
        own = paths[self.rank]
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        fd = os.open(own, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.posix_fallocate(fd, 0, nbytes)  # reserves the pages now: a full /dev/shm fails here, not as SIGBUS later
        except OSError as e:
            os.close(fd)
            own.unlink(missing_ok=True)
            raise OSError(f"{own}: cannot reserve {nbytes / 1e6:.1f} MB of shared memory ({e}); "
                          "train with grad_transport group, or give the host a larger /dev/shm") from e
        os.close(fd)
        try:
            dist.barrier()  # every rank's file exists
            self.buffers = [torch.from_file(str(p), shared=True, size=numel, dtype=dtype) for p in paths]
            dist.barrier()  # every rank has mapped every file
        finally:
            own.unlink(missing_ok=True)  # the mappings stay; nothing is left behind if a rank dies later
        self.buffer = self.buffers[self.rank]
        self.buffer.zero_()
        bounds = [numel * r // self.world_size for r in range(self.world_size + 1)]
        self._lo, self._hi = bounds[self.rank], bounds[self.rank + 1]
        self._scratch = torch.empty(self._hi - self._lo, dtype=dtype)

    def all_reduce(self) -> None:
        """Replace every rank's ``buffer`` by the sum over ranks (the same bits on every rank)."""
        dist = _dist()
        dist.barrier()  # every rank's buffer holds this step's values
        lo, hi = self._lo, self._hi
        if hi > lo:
            torch.add(self.buffers[0][lo:hi], self.buffers[1][lo:hi], out=self._scratch)
            for other in self.buffers[2:]:
                self._scratch.add_(other[lo:hi])
            for buf in self.buffers:
                buf[lo:hi].copy_(self._scratch)
        dist.barrier()  # every slice is summed everywhere: the buffers may be read (and then overwritten)
