"""Shard member references: the ``tarmember://`` form that names one tar member's bytes in a shard.

A cloud-manifest ``audio_filepath`` may name one member's data inside a tar shard (the layout is
described in :mod:`ds2ray.data.shards`)::

    tarmember://<member>?offset=<data offset>&size=<data bytes>::<shard URL or absolute path>
    tarmember://0000003-utt2.wav?offset=1536&size=32044::s3://bucket/corpus/shards/shard-000000.tar

``offset`` is where the member's data starts in the shard (after its tar header), ``size`` its length.
This module parses, writes and checks references and member names, and gives a seekable view over a
byte range; it imports nothing from ds2ray. Opening a reference is :func:`ds2ray.fileio.open_file`'s
job (it reads local paths and fsspec URLs alike).
"""

from __future__ import annotations

import io
import urllib.parse
from dataclasses import dataclass
from typing import IO

MEMBER_PREFIX = "tarmember://"


class ShardError(OSError):
    """A shard, member reference or index that cannot be used; the message names it."""


class UnsafeMemberError(ShardError):
    """A tar member whose name or type could escape or confuse the reader (absolute, ``..``, link)."""


def is_member_ref(path: str) -> bool:
    return path.startswith(MEMBER_PREFIX)


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

    def check_extent(self, shard_size: int) -> None:
        """Raise :class:`ShardError` when a shard of ``shard_size`` bytes cannot hold this member."""
        if self.offset + self.size > shard_size:
            raise ShardError(f"{self.url()}: shard has {shard_size} bytes but the member ends at "
                             f"{self.offset + self.size}; the shard is truncated or was replaced: re-run "
                             "`ds2ray upload`.")


class SliceFile(io.RawIOBase):
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
