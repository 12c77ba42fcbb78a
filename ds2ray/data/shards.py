"""Tar shards (WebDataset layout) as a data source: the layout, reading one shard, the index.

Layout written by ``ds2ray upload`` (package ``data_upload``) under a destination ``DEST``::

    DEST/shards/shard-000000.tar          members <key>.<audio ext> (bytes unchanged) + <key>.json
    DEST/manifests/shard-000000.jsonl     one manifest per shard          } written last, so they
    DEST/manifest.jsonl                   the cloud manifest (all shards) } never point at missing
    DEST/index.json                       shards: counts, bytes, checksums  } or partial data

``<key>.json`` holds the entry's metadata (``duration``, ``text``, ``speaker``, ``offset``, extra keys);
when several manifest entries are segments of one audio file the file is packed once and the JSON is
``{"segments": [meta, ...]}``.

**Member references.** A cloud-manifest ``audio_filepath`` names one member's bytes inside a shard
(``tarmember://<member>?offset=N&size=N::<shard URL>``, defined in :mod:`ds2ray.tarmember`).
:func:`ds2ray.fileio.open_file` opens such a reference as a seekable file over exactly those bytes
(one ranged GET for members up to 16 MiB, lazy ranged reads beyond), so ``load_audio``, ``audio_info``,
``mean-std``, map-style training and evaluation read cloud manifests with no change. S3 endpoints come
from ``AWS_ENDPOINT_URL``, credentials from the usual AWS environment/profile (botocore).

This module reads shards and their index: :func:`iter_shard` groups a shard's members into samples,
:func:`read_index` reads ``index.json``. **Streaming** over many shards (one reader per DDP rank and
loader worker) is :class:`~ds2ray.data.shard_stream.ShardStreamDataset`, in its own module because it
imports torch.

Tar member names are validated on every read: absolute paths, ``..`` components, links and devices
raise :class:`UnsafeMemberError`.
"""

from __future__ import annotations

import itertools
import json
import logging
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import IO, Any, Iterator, Mapping

from ds2ray import fileio
from ds2ray.data.manifest import ManifestEntry
from ds2ray.tarmember import MemberRef, ShardError, UnsafeMemberError, validate_member_name

log = logging.getLogger(__name__)

INDEX_FORMAT = "ds2ray-shards"
INDEX_VERSION = 1


# --------------------------------------------------------------------------------------------------
# reading shards sequentially


def split_key(name: str) -> tuple[str, str]:
    """WebDataset key and extension: ``dir/0001-utt.wav`` -> (``dir/0001-utt``, ``wav``)."""
    head, base = posixpath.split(name)
    stem, _, ext = base.partition(".")
    return posixpath.join(head, stem) if head else stem, ext


@dataclass(frozen=True)
class ShardRecord:
    """One WebDataset sample of a shard: its audio member's bytes and the manifest entries it carries."""

    key: str
    ref: MemberRef
    data: bytes
    entries: tuple[ManifestEntry, ...]


def iter_members(fileobj: IO[bytes], shard: str) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    """Stream ``(info, data)`` for each regular member; unsafe names or links raise UnsafeMemberError."""
    try:
        with tarfile.open(fileobj=fileobj, mode="r|") as tar:
            for info in tar:
                validate_member_name(info.name, shard)
                if info.isdir():
                    continue
                if not info.isfile():
                    raise UnsafeMemberError(f"{shard}: refusing tar member {info.name!r}: not a regular file "
                                            "(link or device). Re-create the shard with `ds2ray upload`.")
                extracted = tar.extractfile(info)
                yield info, extracted.read() if extracted is not None else b""
    except tarfile.TarError as err:
        raise ShardError(f"{shard}: not a readable tar shard ({err}); re-run `ds2ray upload`.") from err


def entries_from_metadata(meta: Mapping[str, Any], audio_filepath: str) -> list[ManifestEntry]:
    """Manifest entries from a ``<key>.json`` (flat, or ``{"segments": [...]}``) pointing at one member."""
    segments = meta["segments"] if "segments" in meta else [meta]
    return [ManifestEntry.from_dict({**seg, "audio_filepath": audio_filepath}) for seg in segments]


def iter_shard(fileobj: IO[bytes], shard: str) -> Iterator[ShardRecord]:
    """Group consecutive members by key into samples: exactly one ``.json`` and one audio member each."""
    key: str | None = None
    parts: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    for info, data in itertools.chain(iter_members(fileobj, shard), [(None, b"")]):
        next_key = split_key(info.name)[0] if info is not None else None
        if key is not None and next_key != key:
            yield _record(shard, key, parts)
            parts = {}
        if info is None:
            return
        key = next_key
        parts[split_key(info.name)[1]] = (info, data)


def _record(shard: str, key: str, parts: dict[str, tuple[tarfile.TarInfo, bytes]]) -> ShardRecord:
    audio = [ext for ext in parts if ext != "json"]
    if "json" not in parts or len(audio) != 1:
        raise ShardError(f"{shard}: sample {key!r} has members {sorted(parts)}; expected one '.json' and one "
                         "audio member. Re-create the shard with `ds2ray upload`.")
    info, data = parts[audio[0]]
    ref = MemberRef(shard, info.name, info.offset_data, info.size)
    try:
        entries = entries_from_metadata(json.loads(parts["json"][1]), ref.url())
    except (ValueError, KeyError, TypeError) as err:
        raise ShardError(f"{shard}: {key}.json: bad metadata ({err})") from err
    return ShardRecord(key, ref, data, tuple(entries))


# --------------------------------------------------------------------------------------------------
# the index


@dataclass(frozen=True)
class ShardInfo:
    """One shard as listed in ``index.json``; ``url`` and ``manifest`` absolute once read."""

    url: str
    count: int
    bytes: int
    sha256: str = ""  # when the upload ran with --sha256
    md5: str = ""  # md5 of the file, for shards that uploaded in one PUT
    duration: float = 0.0
    manifest: str = ""
    etag: str = ""  # S3 ETag: md5 of the file, or md5 of the md5s of its part_size parts + "-<parts>"
    part_size: int = 0


@dataclass(frozen=True)
class ShardIndex:
    shards: tuple[ShardInfo, ...]
    manifest: str = ""
    skipped: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return sum(s.count for s in self.shards)

    @property
    def num_bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def to_dict(self, base_dir: str) -> dict[str, Any]:
        """JSON form; shard and manifest URLs under ``base_dir`` are written relative to it."""
        rel = lambda u: _relative_url(u, base_dir)  # noqa: E731
        return {
            "format": INDEX_FORMAT, "version": INDEX_VERSION,
            "num_shards": len(self.shards), "num_samples": self.num_samples, "num_bytes": self.num_bytes,
            "duration_hours": round(sum(s.duration for s in self.shards) / 3600, 4),
            "manifest": rel(self.manifest) if self.manifest else "",
            "shards": [{"url": rel(s.url), "count": s.count, "bytes": s.bytes, "etag": s.etag, "part_size": s.part_size,
                        "md5": s.md5, "sha256": s.sha256, "duration": round(s.duration, 3),
                        "manifest": rel(s.manifest) if s.manifest else ""} for s in self.shards],
            "skipped": list(self.skipped), **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str, source: str = "<index>") -> "ShardIndex":
        if data.get("format") != INDEX_FORMAT:
            raise ShardError(f"{source}: not a ds2ray shard index (format={data.get('format')!r})")
        known = {"format", "version", "num_shards", "num_samples", "num_bytes", "duration_hours",
                 "manifest", "shards", "skipped"}
        try:
            shards = tuple(ShardInfo(**{**s, "url": fileio.resolve(s["url"], base_dir),
                                        "manifest": fileio.resolve(s["manifest"], base_dir) if s.get("manifest") else ""})
                           for s in data["shards"])
        except (KeyError, TypeError) as err:
            raise ShardError(f"{source}: malformed 'shards' list ({err})") from err
        manifest = fileio.resolve(data["manifest"], base_dir) if data.get("manifest") else ""
        return cls(shards, manifest, tuple(data.get("skipped", ())), {k: v for k, v in data.items() if k not in known})


def _relative_url(url: str, base_dir: str) -> str:
    prefix = base_dir.rstrip("/") + "/"
    return url[len(prefix):] if url.startswith(prefix) else fileio.relative_to(url, base_dir)


def read_index(url: str) -> ShardIndex:
    """Read ``index.json`` (local path or URL)."""
    try:
        with fileio.open_file(url, "rb") as fh:
            data = json.loads(fh.read())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"shard index not found: {url} (an upload writes it last; "
                                "re-run `ds2ray upload` if it was interrupted)") from err
    except json.JSONDecodeError as err:
        raise ShardError(f"{url}: invalid JSON ({err})") from err
    return ShardIndex.from_dict(data, fileio.dirname(url), url)

