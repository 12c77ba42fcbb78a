"""Where a training loop runs: a Ray Train worker or a plain process.

:class:`RaySession`: inside ``TorchTrainer`` (DDP process group set up by Ray, checkpoints through
``ray.train.report``, resume through ``get_checkpoint()``). :class:`LocalSession`: one process, no
Ray (the single-process baseline of ``bench/train.py`` and fast tests).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Protocol

import torch

from ds2ray.model.checkpoint import CheckpointData, load_checkpoint as read_checkpoint


class Session(Protocol):
    """What the loop needs from its surroundings: rank, device, restore/report, DDP, all-reduce."""

    rank: int
    world_size: int
    local_rank: int  # on this node
    local_world_size: int
    device: torch.device

    def restore(self) -> CheckpointData | None: ...
    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None, name: str) -> None: ...
    def wrap_model(self, model: torch.nn.Module, ddp: bool = True) -> torch.nn.Module: ...
    def all_reduce(self, values: list[float]) -> list[float]: ...


class RaySession:
    """Inside a Ray Train worker: the process group is set up by ``TorchTrainer``."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        self.local_rank = ctx.get_local_rank()
        self.local_world_size = ctx.get_local_world_size()
        self.device = ray.train.torch.get_device()

    def restore(self) -> CheckpointData | None:
        import ray.train

        ckpt = ray.train.get_checkpoint()
        if ckpt is None:
            return None
        with ckpt.as_directory() as folder:
            data = read_checkpoint(folder, with_train_state=True)
        data.path = ckpt.path
        return data

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None, name: str) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name if checkpoint else None)

    def wrap_model(self, model: torch.nn.Module, ddp: bool = True) -> torch.nn.Module:
        """DDP around ``model`` when ``ddp`` and more than one rank (else gradients are synced by
        :class:`ds2ray.train.gradsync.FlatGradients`)."""
        if self.world_size == 1 or not ddp:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def all_reduce(self, values: list[float]) -> list[float]:
        if self.world_size == 1:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.to(self.device)
        dist.all_reduce(t)
        return t.cpu().tolist()


class LocalSession:
    """One plain process: checkpoints go to ``checkpoint_root/<name>``, the newest K are kept."""

    def __init__(self, checkpoint_root: str | None = None, device: str = "cpu", keep: int = 3) -> None:
        self.rank, self.world_size = 0, 1
        self.local_rank, self.local_world_size = 0, 1
        self.device = torch.device(device)
        self.root = checkpoint_root
        self.keep = keep
        self.reports: list[dict[str, Any]] = []

    def _checkpoints(self) -> list[Path]:
        if not self.root or not os.path.isdir(self.root):
            return []
        return sorted(p for p in Path(self.root).iterdir() if (p / "model.pt").exists())

    def restore(self) -> CheckpointData | None:
        found = self._checkpoints()
        return read_checkpoint(str(found[-1]), with_train_state=True) if found else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None, name: str) -> None:
        self.reports.append(dict(metrics))
        if checkpoint_dir and self.root:
            dest = Path(self.root) / name
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(checkpoint_dir, dest)
            for old in self._checkpoints()[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)

    def wrap_model(self, model: torch.nn.Module, ddp: bool = True) -> torch.nn.Module:
        return model

    def all_reduce(self, values: list[float]) -> list[float]:
        return values
