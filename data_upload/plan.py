"""Which manifest entries go into which shard, under which member key: decided before any packing.

Entries that share one audio file (segments with ``offset``) form one *group*: the file is packed
once and its JSON lists the segments. Groups are optionally shuffled with a seed, numbered, and dealt
into shards by estimated tar size (``shard_size``) or into ``num_shards`` equal-count shards. Each
shard has a fingerprint of what it will contain, so a re-run recognises shards it already uploaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import random
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from ds2ray import fileio
from ds2ray.data.manifest import ManifestEntry

#: Bumped when the packed bytes for the same inputs would change (invalidates old receipts).
PACK_FORMAT = "ds2ray-tar-v1"
_TAR_BLOCK = 512


@dataclass(frozen=True)
class SampleGroup:
    """One audio file and the manifest entries (usually one) that point into it."""

    key: str
    source: str
    size: int
    entries: tuple[ManifestEntry, ...]

    @property
    def member(self) -> str:
        """Tar member name of the audio: ``<key>.<original extension>``."""
        ext = re.sub(r"[^a-z0-9]", "", posixpath.splitext(self.source)[1].lower()) or "audio"
        return f"{self.key}.{ext}"

    def estimated_tar_bytes(self) -> int:
        """Header + padded data for the audio member, plus a header and a block for the JSON."""
        return 3 * _TAR_BLOCK + -(-self.size // _TAR_BLOCK) * _TAR_BLOCK


@dataclass(frozen=True)
class ShardPlan:
    index: int
    groups: tuple[SampleGroup, ...]

    @property
    def name(self) -> str:
        return f"shard-{self.index:06d}"

    @property
    def estimated_bytes(self) -> int:
        """Expected tar size (JSON members assumed to fit one block): end blocks padded to a record."""
        size = sum(g.estimated_tar_bytes() for g in self.groups) + 2 * _TAR_BLOCK
        return -(-size // 10240) * 10240

    def fingerprint(self) -> str:
        """sha256 over everything that determines the shard's bytes (keys, sources, sizes, metadata)."""
        h = hashlib.sha256(PACK_FORMAT.encode())
        for g in self.groups:
            h.update(json.dumps([g.key, g.source, g.size, [e.to_dict() for e in g.entries]],
                                sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class Skipped:
    """An entry left out, with the reason (missing or unreadable audio)."""

    source: str
    reason: str
    entries: int = 1

    def to_dict(self) -> dict:
        return {"audio_filepath": self.source, "reason": self.reason, "entries": self.entries}


def parse_size(text: str) -> int:
    """``256MB`` -> 256_000_000, ``1GiB`` -> 2**30, ``4096`` -> 4096 (k/M/G/T decimal, Ki/Mi/Gi binary)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?)?[bB]?\s*", text)
    if not m:
        raise ValueError(f"cannot read size {text!r}; use e.g. 256MB, 1GiB or a byte count")
    unit = (m.group(2) or "").lower()
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
             "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}[unit]
    size = int(float(m.group(1)) * scale)
    if size <= 0:
        raise ValueError(f"size must be > 0, got {text!r}")
    return size


def group_entries(entries: Iterable[ManifestEntry]) -> list[tuple[str, list[ManifestEntry]]]:
    """Entries grouped by audio file, in order of first appearance."""
    groups: dict[str, list[ManifestEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.audio_filepath, []).append(entry)
    return list(groups.items())


def source_size(path: str) -> int:
    """Bytes of a local file or fsspec URL; raises FileNotFoundError when missing."""
    if not fileio.is_url(path) or path.startswith("file://"):
        return os.path.getsize(path[len("file://"):] if path.startswith("file://") else path)
    import fsspec

    fs, p = fsspec.core.url_to_fs(path, **(fileio.storage_options_from_env() if path.startswith("s3://") else {}))
    return int(fs.size(p))


def _key(number: int, source: str) -> str:
    stem = posixpath.splitext(posixpath.basename(source.replace("\\", "/")))[0]
    return f"{number:07d}-{re.sub(r'[^A-Za-z0-9_-]+', '_', stem)[:48] or 'audio'}"


def build_plan(entries: Sequence[ManifestEntry], *, shard_size: int | None = None, num_shards: int | None = None,
               shuffle: bool = False, seed: int = 0) -> tuple[list[ShardPlan], list[Skipped]]:
    """Deal the manifest's audio into shards. Missing audio files are left out and reported.

    Exactly one of ``shard_size`` (bytes, by estimated tar size) and ``num_shards`` must be given.
    """
    if (shard_size is None) == (num_shards is None):
        raise ValueError("give exactly one of --shard-size and --num-shards")
    if not entries:
        raise ValueError("the manifest has no entries: nothing to upload (check the manifest path and "
                         "the --min-duration/--max-duration filters)")
    groups: list[tuple[str, list[ManifestEntry], int]] = []
    skipped: list[Skipped] = []
    for source, members in group_entries(entries):
        try:
            groups.append((source, members, source_size(source)))
        except (FileNotFoundError, OSError) as err:
            skipped.append(Skipped(source, f"cannot read file ({type(err).__name__}: {err})", len(members)))
    if shuffle:
        random.Random(seed).shuffle(groups)
    keyed = [SampleGroup(_key(i, src), src, size, tuple(members)) for i, (src, members, size) in enumerate(groups)]
    if not keyed:
        raise ValueError(f"none of the {len(entries)} manifest entries has readable audio "
                         f"(first problem: {skipped[0].source}: {skipped[0].reason})")
    if num_shards is not None:
        if num_shards < 1:
            raise ValueError(f"--num-shards must be >= 1, got {num_shards}")
        n = min(num_shards, len(keyed))
        bounds = [round(i * len(keyed) / n) for i in range(n + 1)]
        chunks = [keyed[bounds[i]:bounds[i + 1]] for i in range(n)]
    else:
        assert shard_size is not None
        chunks, current, used = [], [], 0
        for g in keyed:
            if current and used + g.estimated_tar_bytes() > shard_size:
                chunks.append(current)
                current, used = [], 0
            current.append(g)
            used += g.estimated_tar_bytes()
        chunks.append(current)
    return [ShardPlan(i, tuple(c)) for i, c in enumerate(chunks)], skipped


def plan_fingerprint(shards: Sequence[ShardPlan]) -> str:
    return hashlib.sha256("".join(s.fingerprint() for s in shards).encode()).hexdigest()
