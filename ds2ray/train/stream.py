"""Streaming training data (``ds2ray train --stream``): batches read shard after shard from a cloud manifest.

Map-style training (the default) reads each member of a cloud manifest with its own ranged GET, in
any order, so SortaGrad and global duration buckets work, at one request per utterance. Streaming
reads whole shards sequentially through :class:`~ds2ray.data.shard_stream.ShardStreamDataset` (shard-level
shuffle, a shuffle buffer, distinct shards per rank and loader worker, an optional local cache): one
request per shard, the way to train from object storage at scale.

**Batches.** Each loader worker cuts its stream into windows of ``window_batches * batch_size``
samples, sorts a window by the manifest duration (before any decoding), cuts it into batches of
``batch_size`` utterances and shuffles their order. Every reader slot yields the same quota
(:func:`~ds2ray.data.shard_stream.plan_epoch`), so every rank makes
``workers * ceil(quota / batch_size)`` batches and DDP ranks stay in step to the end of the epoch.
SortaGrad does not apply: a stream has no global order.

**Bad samples.** A member that cannot be decoded, or whose audio is shorter than one analysis window,
becomes a :class:`~ds2ray.train.dataset.Failure` that rides along in its batch and is counted per
epoch, as in map-style training.

**Resume.** The stream is a pure function of ``(seed, epoch)``: a resumed run replays it and drops
the batches already trained before their feature extraction (their audio is still read); see
:func:`make_stream_loader`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ds2ray.data.manifest import ManifestEntry
from ds2ray.data.shard_stream import ShardFailure, ShardSample, ShardStreamDataset
from ds2ray.tarmember import is_member_ref
from ds2ray.train.dataset import Batch, Failure, Sample, SpeechDataset, collate


def stream_batch_size(frames: list[int], batch_frames: int, batch_size: int) -> int:
    """Utterances per streamed batch: ``batch_size`` if set, else ``batch_frames`` over the mean length."""
    if batch_size > 0:
        return batch_size
    mean = sum(frames) / max(1, len(frames))
    return max(1, int(batch_frames // max(1.0, mean)))


class StreamingTrainSet(IterableDataset):
    """Training batches streamed from the shards behind ``speech.utterances`` (all shard member refs).

    Call :meth:`start_epoch` before iterating (it fixes the epoch and how many batches to skip).
    """

    def __init__(self, speech: SpeechDataset, batch_size: int, *, rank: int, world_size: int, seed: int = 0,
                 shuffle_buffer: int = 512, cache_dir: str | None = None, window_batches: int = 16) -> None:
        super().__init__()
        not_refs = [u.path for u in speech.utterances if not is_member_ref(u.path)]
        if not_refs:
            raise ValueError(f"--stream reads tar shards, but {len(not_refs)} training entries are plain files "
                             f"(e.g. {not_refs[0]}); give a cloud manifest written by `ds2ray upload`, or train "
                             "without --stream")
        self.speech, self.batch_size, self.window_batches = speech, batch_size, max(1, window_batches)
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.index = {(u.path, round(u.offset, 3)): i for i, u in enumerate(speech.utterances)}
        entries = [ManifestEntry(u.path, u.duration, u.text, u.offset) for u in speech.utterances]
        self.shards = ShardStreamDataset.from_manifest(
            entries, sample_rate=speech.features.sample_rate, seed=seed, shuffle_buffer=shuffle_buffer,
            rank=rank, world_size=world_size, cache_dir=cache_dir, yield_failures=True)
        self.skip_batches = 0

    @property
    def num_shards(self) -> int:
        return len(self.shards.shards)

    def num_batches(self, epoch: int, loader_workers: int) -> int:
        """Batches this rank makes in ``epoch`` (the same on every rank)."""
        saved = self.shards.epoch
        self.shards.set_epoch(epoch)
        try:
            quota = self.shards.slot_plan(loader_workers).quota
        finally:
            self.shards.set_epoch(saved)
        return max(1, loader_workers) * math.ceil(quota / self.batch_size)

    def start_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Set the epoch; each reader (loader worker) drops its first ``skip_batches`` batches unread."""
        self.shards.set_epoch(epoch)
        self.speech.epoch = epoch
        self.skip_batches = skip_batches

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        skip = self.skip_batches  # per worker (see make_stream_loader)
        rng = np.random.default_rng([self.seed, self.shards.epoch, self.rank, worker, 1])
        window = self.batch_size * self.window_batches
        stream = iter(self.shards)
        while chunk := list(itertools.islice(stream, window)):
            chunk.sort(key=lambda item: item.entry.duration)
            batches = [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
            for j in rng.permutation(len(batches)):
                if skip:
                    skip -= 1
                    continue
                yield collate([self._item(item) for item in batches[j]])

    def _item(self, item: ShardSample | ShardFailure) -> Sample | Failure:
        index = self.index[(item.entry.audio_filepath, round(item.entry.offset, 3))]
        if isinstance(item, ShardFailure):
            return Failure(index, item.entry.audio_filepath, item.error)
        try:
            return self.speech.featurize(index, item.audio)
        except (ValueError, RuntimeError) as err:
            return Failure(index, item.entry.audio_filepath, f"{type(err).__name__}: {err}")


def make_stream_loader(dataset: StreamingTrainSet, epoch: int, num_workers: int, start: int = 0) -> Iterator[Batch]:
    """This rank's batches of ``epoch`` from batch ``start`` on.

    The DataLoader takes batches from its workers in turn, starting with worker 0: overall batch ``k``
    is batch ``k // W`` of worker ``k % W``. So each worker skips ``start // W`` batches before any
    decoding, and the first ``start % W`` batches that then arrive are dropped here.
    """
    readers = max(1, num_workers)
    dataset.start_epoch(epoch, start // readers)
    kwargs: dict[str, Any] = {"prefetch_factor": 4} if num_workers > 0 else {}
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=num_workers, **kwargs)
    return itertools.islice(iter(loader), start % readers, None)
