"""Streaming reader over tar shards: each DDP rank and DataLoader worker reads distinct shards.

The shard layout and the index this module reads are :mod:`ds2ray.data.shards`; member references
are :mod:`ds2ray.tarmember`.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import posixpath
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from ds2ray import fileio
from ds2ray.data.manifest import ManifestEntry
from ds2ray.data.shards import ShardInfo, ShardRecord, iter_shard, read_index
from ds2ray.tarmember import MemberRef, ShardError, is_member_ref

log = logging.getLogger(__name__)

BALANCE_MODES = ("truncate", "pad")  # see plan_epoch


@dataclass(frozen=True)
class SlotPlan:
    """What one reader slot (rank x loader worker) reads in one epoch.

    ``shards``: shard ids in read order. Of the samples met along them, the slot keeps those whose
    running number ``i`` has ``i % stride == phase``, and yields exactly ``quota`` samples (cycling
    over its shards again when they hold fewer).
    """

    shards: tuple[int, ...]
    stride: int
    phase: int
    quota: int


def plan_epoch(counts: Sequence[int], num_slots: int, slot: int, *, epoch: int = 0, seed: int = 0,
               shuffle: bool = True, balance: str = "truncate") -> SlotPlan:
    """Shard assignment for ``slot`` of ``num_slots`` in ``epoch`` (pure; every slot computes the same
    shard order from ``(seed, epoch)``).

    * ``len(counts) >= num_slots``: shards are dealt round-robin, slot ``s`` reads ``order[s::num_slots]``
      (distinct shards per slot).
    * fewer shards than slots: every slot reads all shards and keeps every ``num_slots``-th sample
      (distinct samples per slot, at the cost of reading everything).
    * uneven totals: every slot yields the same ``quota`` so DDP ranks run the same number of steps and
      none waits at the end of an epoch: ``truncate`` = the smallest slot's total (the rest of larger
      slots is dropped this epoch; the shuffle moves what is dropped between epochs), ``pad`` = the
      largest (smaller slots repeat samples from their own shards).
    """
    if balance not in BALANCE_MODES:
        raise ValueError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
    if not 0 <= slot < num_slots:
        raise ValueError(f"slot {slot} outside 0..{num_slots - 1}")
    order = list(range(len(counts)))
    if shuffle:
        np.random.default_rng([seed, epoch]).shuffle(order)
    pick = min if balance == "truncate" else max
    if len(order) >= num_slots:
        totals = [sum(counts[i] for i in order[s::num_slots]) for s in range(num_slots)]
        return SlotPlan(tuple(order[slot::num_slots]), 1, 0, pick(totals))
    total = sum(counts)
    totals = [len(range(s, total, num_slots)) for s in range(num_slots)]
    return SlotPlan(tuple(order), num_slots, slot, pick(totals))


@dataclass(frozen=True)
class ShardSample:
    """What :class:`ShardStreamDataset` yields (before ``transform``).

    ``audio``: (N,) float32 mono at the dataset's ``sample_rate``, already cut to the entry's
    ``offset``/``duration`` when the entry is a segment.
    """

    entry: ManifestEntry
    audio: np.ndarray


@dataclass(frozen=True)
class ShardFailure:
    """A member that could not be decoded (yielded instead of skipped with ``yield_failures=True``)."""

    entry: ManifestEntry
    error: str


def _distributed() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class ShardStreamDataset(IterableDataset):
    """Stream samples from tar shards, each DDP rank and DataLoader worker reading distinct shards.

    Per epoch: shards are shuffled with ``(seed, epoch)`` (same order on every rank), dealt to the
    ``world_size * num_workers`` slots by :func:`plan_epoch`, each slot reads its shards sequentially
    through a shuffle buffer of ``shuffle_buffer`` samples and yields exactly the slot quota (see
    :func:`plan_epoch` for ``balance``), so every rank yields ``num_workers * quota`` samples and the
    same number of batches. Call :meth:`set_epoch` before each epoch (as with ``DistributedSampler``;
    with ``persistent_workers=True`` the workers would not see it). Members that fail to decode are
    logged and skipped (the slot still fills its quota by cycling); unsafe tar members raise.

    Args:
        shards: shards to read (from :meth:`from_index` or :meth:`from_manifest`).
        sample_rate: target rate of ``ShardSample.audio`` (None keeps each file's rate).
        keep: if given, only entries whose ``(member reference URL, round(offset, 3))`` is in it are
            yielded (``from_manifest`` uses it so manifest filters carry over); ``counts`` must match.
        rank, world_size: default from ``torch.distributed`` when initialised, else ``RANK``/``WORLD_SIZE``.
        cache_dir: keep a local copy of each shard read (size checked) and read later epochs from it.
        transform: applied to each :class:`ShardSample` in the worker (e.g. feature extraction);
            must be picklable when the DataLoader spawns workers.
        yield_failures: yield a :class:`ShardFailure` for an undecodable member (it counts toward the
            quota) instead of logging and skipping it, so a caller can count bad samples.
    """

    def __init__(self, shards: Sequence[ShardInfo], *, sample_rate: int | None = 16000, shuffle: bool = True,
                 seed: int = 0, shuffle_buffer: int = 256, balance: str = "truncate",
                 rank: int | None = None, world_size: int | None = None, cache_dir: str | None = None,
                 keep: frozenset[tuple[str, float]] | None = None,
                 transform: Callable[[ShardSample], Any] | None = None, yield_failures: bool = False) -> None:
        super().__init__()
        if not shards:
            raise ValueError("ShardStreamDataset: no shards given (empty index or manifest)")
        if balance not in BALANCE_MODES:
            raise ValueError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
        self.shards = tuple(shards)
        self.sample_rate, self.shuffle, self.seed = sample_rate, shuffle, seed
        self.shuffle_buffer, self.balance = max(1, shuffle_buffer), balance
        self.rank, self.world_size = rank, world_size
        self.cache_dir, self.keep, self.transform = cache_dir, keep, transform
        self.yield_failures = yield_failures
        self.epoch = 0

    @classmethod
    def from_index(cls, index_url: str, **kwargs: Any) -> "ShardStreamDataset":
        """All shards listed in an ``index.json`` written by ``ds2ray upload``."""
        return cls(read_index(index_url).shards, **kwargs)

    @classmethod
    def from_manifest(cls, entries: Iterable[ManifestEntry], **kwargs: Any) -> "ShardStreamDataset":
        """The shards a cloud manifest points into, yielding only its entries (filters carry over)."""
        counts: dict[str, int] = {}
        keep = set()
        for entry in entries:
            if not is_member_ref(entry.audio_filepath):
                raise ValueError(f"{entry.audio_filepath}: not a shard member reference; streaming needs a "
                                 "cloud manifest written by `ds2ray upload` (use the map-style dataset otherwise)")
            shard = MemberRef.parse(entry.audio_filepath).shard
            counts[shard] = counts.get(shard, 0) + 1
            keep.add((entry.audio_filepath, round(entry.offset, 3)))
        shards = [ShardInfo(url=url, count=n, bytes=0) for url, n in counts.items()]
        return cls(shards, keep=frozenset(keep), **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def slot_plan(self, num_workers: int = 0, worker: int = 0) -> SlotPlan:
        """The :class:`SlotPlan` of loader worker ``worker`` of this rank in the current epoch."""
        rank, world = self._world()
        workers = max(1, num_workers)
        return plan_epoch([s.count for s in self.shards], world * workers, rank * workers + worker, epoch=self.epoch,
                          seed=self.seed, shuffle=self.shuffle, balance=self.balance)

    def _world(self) -> tuple[int, int]:
        rank, world = _distributed()
        return (rank if self.rank is None else self.rank), (world if self.world_size is None else self.world_size)

    def epoch_size(self, num_workers: int = 0) -> int:
        """Samples this rank yields in the current epoch with a DataLoader of ``num_workers`` workers
        (the DataLoader makes ``max(1, num_workers) * ceil(quota / batch_size)`` batches of them)."""
        return max(1, num_workers) * self.slot_plan(num_workers).quota

    def __iter__(self) -> Iterator[Any]:
        rank, world = self._world()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        slot, num_slots = rank * workers + worker, world * workers
        plan = plan_epoch([s.count for s in self.shards], num_slots, slot, epoch=self.epoch, seed=self.seed,
                          shuffle=self.shuffle, balance=self.balance)
        rng = np.random.default_rng([self.seed, self.epoch, slot])
        for sample in itertools.islice(self._epoch_stream(plan, rng), plan.quota):
            yield self.transform(sample) if self.transform is not None else sample

    def _epoch_stream(self, plan: SlotPlan, rng: np.random.Generator) -> Iterator[ShardSample | ShardFailure]:
        """Decoded samples, pass after pass over the slot's shards (each pass through its own shuffle
        buffer, so no sample repeats before every other one came once); stops if a pass yields nothing."""
        while True:
            items = self._slot_pass(plan)
            if self.shuffle:
                items = _shuffle_buffer(items, self.shuffle_buffer, rng)
            produced = False
            for entry, data, segment in items:
                sample = self._decode(entry, data, segment)
                if sample is not None:
                    produced = True
                    yield sample
            if not produced:
                return

    def _slot_pass(self, plan: SlotPlan) -> Iterator[tuple[ManifestEntry, bytes, bool]]:
        """One pass: (entry, member bytes, is a segment of a longer file) of the slot's samples."""
        i = 0
        for shard_id in plan.shards:
            for record in self._read_shard(self.shards[shard_id]):
                for entry in record.entries:
                    if self.keep is not None and (entry.audio_filepath, round(entry.offset, 3)) not in self.keep:
                        continue
                    if i % plan.stride == plan.phase:
                        yield entry, record.data, len(record.entries) > 1
                    i += 1

    def _read_shard(self, shard: ShardInfo) -> Iterator[ShardRecord]:
        source = self._local_copy(shard) if self.cache_dir else shard.url
        if fileio.is_local(source):
            path = fileio.local_path(source)
            with open(path, "rb", buffering=1 << 20) as fh:
                yield from _with_shard_url(iter_shard(fh, path), shard.url)
            return
        fs, path = fileio.filesystem(source)
        with fs.open(path, "rb", block_size=fileio.REMOTE_BLOCK_SIZE, cache_type="readahead") as fh:
            yield from iter_shard(fh, shard.url)

    def _local_copy(self, shard: ShardInfo) -> str:
        """Download ``shard`` into ``cache_dir`` once (atomic rename; size checked against the index)."""
        assert self.cache_dir is not None
        if not fileio.is_url(shard.url):
            return shard.url
        os.makedirs(self.cache_dir, exist_ok=True)
        name = hashlib.sha1(shard.url.encode()).hexdigest()[:16] + "-" + posixpath.basename(shard.url)
        path = os.path.join(self.cache_dir, name)
        if os.path.exists(path) and (not shard.bytes or os.path.getsize(path) == shard.bytes):
            return path
        fs, rpath = fileio.filesystem(shard.url)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            fs.get_file(rpath, tmp)
            if shard.bytes and os.path.getsize(tmp) != shard.bytes:
                raise ShardError(f"{shard.url}: downloaded {os.path.getsize(tmp)} bytes, the index says "
                                 f"{shard.bytes}; the shard changed since the upload: re-run `ds2ray upload`.")
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return path

    def _decode(self, entry: ManifestEntry, data: bytes, segment: bool) -> ShardSample | ShardFailure | None:
        from ds2ray.data.audio import AudioError, decode_audio

        try:
            audio, rate = decode_audio(data, self.sample_rate, name=entry.audio_filepath)
        except AudioError as err:
            if self.yield_failures:
                return ShardFailure(entry, f"{type(err).__name__}: {err}")
            log.warning("skipping undecodable shard member: %s", err)
            return None
        if entry.offset or segment:
            rate = self.sample_rate or rate
            start = int(round(entry.offset * rate))
            audio = audio[start:start + int(round(entry.duration * rate))]
        return ShardSample(entry, audio)


def _with_shard_url(records: Iterator[ShardRecord], shard_url: str) -> Iterator[ShardRecord]:
    """Local reads see a local path: point the yielded entries at the shard's canonical URL instead."""
    for record in records:
        if record.ref.shard == shard_url:
            yield record
            continue
        ref = MemberRef(shard_url, record.ref.member, record.ref.offset, record.ref.size)
        entries = tuple(ManifestEntry(ref.url(), e.duration, e.text, e.offset, e.speaker, e.extra)
                        for e in record.entries)
        yield ShardRecord(record.key, ref, record.data, entries)


def _shuffle_buffer(items: Iterator[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """Approximate shuffle of a stream: keep ``size`` items, emit a random one as each new one arrives."""
    buf: list[Any] = []
    for item in items:
        if len(buf) < size:
            buf.append(item)
            continue
        j = int(rng.integers(size))
        yield buf[j]
        buf[j] = item
    rng.shuffle(buf)
    yield from buf
