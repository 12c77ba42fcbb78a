"""Tar shards (WebDataset layout) as a data source: random access by member, and a streaming reader.

Layout written by ``ds2ray upload`` (package ``data_upload``) under a destination ``DEST``::

    DEST/shards/shard-000000.tar          members <key>.<audio ext> (bytes unchanged) + <key>.json
    DEST/manifests/shard-000000.jsonl     one manifest per shard          } written last, so they
    DEST/manifest.jsonl                   the cloud manifest (all shards) } never point at missing
    DEST/index.json                       shards: counts, bytes, checksums  } or partial data

``<key>.json`` holds the entry's metadata (``duration``, ``text``, ``speaker``, ``offset``, extra keys);
when several manifest entries are segments of one audio file the file is packed once and the JSON is
``{"segments": [meta, ...]}``.

**Member references.** A cloud-manifest ``audio_filepath`` names one member's bytes inside a shard::

    tarmember://<member>?offset=<data offset>&size=<data bytes>::<shard URL or absolute path>
    tarmember://0000003-utt2.wav?offset=1536&size=32044::s3://bucket/corpus/shards/shard-000000.tar

``offset`` is where the member's data starts in the shard (after its tar header), ``size`` its length.
:func:`ds2ray.fileio.open_file` opens such a reference as a seekable file over exactly those bytes
(one ranged GET for members up to 16 MiB, lazy ranged reads beyond), so ``load_audio``, ``audio_info``,
``mean-std``, map-style training and evaluation read cloud manifests with no change. S3 endpoints come
from ``AWS_ENDPOINT_URL``, credentials from the usual AWS environment/profile (botocore).

**Streaming.** :class:`ShardStreamDataset` (in :mod:`ds2ray.data.shard_stream`, re-exported here
lazily so that reading references does not import torch) reads whole shards sequentially; see its
docstring for the shard-assignment and uneven-count strategy.

Tar member names are validated on every read: absolute paths, ``..`` components, links and devices
raise :class:`UnsafeMemberError`.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import os
import posixpath
import tarfile
import urllib.parse
from dataclasses import dataclass, field
from typing import IO, Any, Iterator, Mapping

from ds2ray import fileio
from ds2ray.data.manifest import ManifestEntry

log = logging.getLogger(__name__)

MEMBER_PREFIX = fileio.MEMBER_PREFIX  # "tarmember://"
INDEX_FORMAT = "ds2ray-shards"
INDEX_VERSION = 1
#: Members up to this size are fetched with one ranged GET; larger ones are read lazily in blocks.
WHOLE_MEMBER_LIMIT = 16 * 2**20
STREAM_BLOCK_SIZE = 16 * 2**20
BALANCE_MODES = ("truncate", "pad")  # see ds2ray.data.shard_stream.plan_epoch


class ShardError(OSError):
    """A shard, member reference or index that cannot be used; the message names it."""


class UnsafeMemberError(ShardError):
    """A tar member whose name or type could escape or confuse the reader (absolute, ``..``, link)."""


# --------------------------------------------------------------------------------------------------
# member names and references


def validate_member_name(name: str, shard: str = "<shard>") -> str:
    """Return ``name`` if it is a safe relative member name, else raise :class:`UnsafeMemberError`."""
    problem = None
    if not name or "\x00" in name:
        problem = "empty name or NUL byte"
    elif name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        problem = "absolute path"
    elif ".." in name.replace("\\", "/").split("/"):
        problem = "'..' path component"
    elif "::" in name or "?" in name:
        problem = "'::' or '?' (reserved by member references)"
    if problem:
        raise UnsafeMemberError(f"{shard}: refusing tar member {name!r}: {problem}. The shard is not one "
                                "ds2ray wrote or was tampered with; re-create it with `ds2ray upload`.")
    return name


def split_key(name: str) -> tuple[str, str]:
    """WebDataset key and extension: ``dir/0001-utt.wav`` -> (``dir/0001-utt``, ``wav``)."""
    head, base = posixpath.split(name)
    stem, _, ext = base.partition(".")
    return posixpath.join(head, stem) if head else stem, ext


@dataclass(frozen=True)
class MemberRef:
    """Where one member's data lies: shard URL (or absolute local path), member name, byte range."""

    shard: str
    member: str
    offset: int
    size: int

    def url(self) -> str:
        member = urllib.parse.quote(self.member, safe="/._-")
        return f"{MEMBER_PREFIX}{member}?offset={self.offset}&size={self.size}::{self.shard}"

    @classmethod
    def parse(cls, url: str) -> "MemberRef":
        if not is_member_ref(url):
            raise ValueError(f"not a shard member reference (expected {MEMBER_PREFIX}...): {url}")
        head, sep, shard = url[len(MEMBER_PREFIX):].partition("::")
        member, _, query = head.partition("?")
        params = urllib.parse.parse_qs(query)
        try:
            offset, size = int(params["offset"][0]), int(params["size"][0])
        except (KeyError, ValueError, IndexError) as err:
            raise ValueError(f"{url}: member reference needs '?offset=<int>&size=<int>'") from err
        if not sep or not shard or offset < 0 or size < 0:
            raise ValueError(f"{url}: expected {MEMBER_PREFIX}<member>?offset=N&size=N::<shard URL>")
        member = urllib.parse.unquote(member)
        return cls(shard, validate_member_name(member, shard), offset, size)


def is_member_ref(path: str) -> bool:
    return path.startswith(MEMBER_PREFIX)


def _storage_options(url: str) -> dict[str, Any]:
    return fileio.storage_options_from_env() if url.startswith("s3://") else {}


def shard_fs(url: str):
    """``(filesystem, path)`` for a shard URL; S3 endpoint and credentials from the environment."""
    import fsspec

    return fsspec.core.url_to_fs(url, **_storage_options(url))


class _SliceFile(io.RawIOBase):
    """Read-only, seekable view of ``size`` bytes at ``start`` of a seekable binary file."""

    def __init__(self, fh: IO[bytes], start: int, size: int) -> None:
        super().__init__()
        self._fh, self._start, self._size, self._pos = fh, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(base + pos, 0), self._size)
        return self._pos

    def readinto(self, buf) -> int:
        n = min(len(buf), self._size - self._pos)
        if n <= 0:
            return 0
        self._fh.seek(self._start + self._pos)
        data = self._fh.read(n)
        buf[: len(data)] = data
        self._pos += len(data)
        return len(data)


@contextlib.contextmanager
def open_member(url: str) -> Iterator[IO[bytes]]:
    """Open a ``tarmember://`` reference as a seekable binary file over the member's bytes.

    Raises ``FileNotFoundError`` when the shard is missing and :class:`ShardError` when the shard is
    shorter than the reference promises.
    """
    ref = MemberRef.parse(url)
    if not fileio.is_url(ref.shard) or ref.shard.startswith("file://"):
        local = ref.shard[len("file://"):] if ref.shard.startswith("file://") else ref.shard
        with open(local, "rb") as fh:
            _check_extent(ref, os.fstat(fh.fileno()).st_size)
            yield io.BufferedReader(_SliceFile(fh, ref.offset, ref.size), buffer_size=1 << 16)
        return
    fs, path = shard_fs(ref.shard)
    if ref.size <= WHOLE_MEMBER_LIMIT:
        data = fs.cat_file(path, start=ref.offset, end=ref.offset + ref.size)
        if len(data) != ref.size:
            raise ShardError(f"{url}: shard returned {len(data)} bytes, the reference promises {ref.size}; "
                             "the shard is truncated or was replaced: re-run `ds2ray upload`.")
        yield io.BytesIO(data)
        return
    with fs.open(path, "rb", block_size=STREAM_BLOCK_SIZE) as fh:
        _check_extent(ref, fh.size)
        yield io.BufferedReader(_SliceFile(fh, ref.offset, ref.size), buffer_size=1 << 20)


def _check_extent(ref: MemberRef, shard_size: int) -> None:
    if ref.offset + ref.size > shard_size:
        raise ShardError(f"{ref.url()}: shard has {shard_size} bytes but the member ends at "
                         f"{ref.offset + ref.size}; the shard is truncated or was replaced: re-run `ds2ray upload`.")


def member_exists(url: str) -> bool:
    """True when the shard exists and is long enough to hold the referenced member."""
    ref = MemberRef.parse(url)
    try:
        if not fileio.is_url(ref.shard) or ref.shard.startswith("file://"):
            size = os.path.getsize(ref.shard[len("file://"):] if ref.shard.startswith("file://") else ref.shard)
        else:
            fs, path = shard_fs(ref.shard)
            size = fs.size(path)
    except FileNotFoundError:
        return False
    return ref.offset + ref.size <= size


# --------------------------------------------------------------------------------------------------
# reading shards sequentially


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


_STREAM_EXPORTS = ("ShardStreamDataset", "ShardSample", "ShardFailure", "SlotPlan", "plan_epoch")


def __getattr__(name: str) -> Any:
    """Lazy re-export of the streaming reader (it imports torch)."""
    if name in _STREAM_EXPORTS:
        from ds2ray.data import shard_stream

        return getattr(shard_stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
