"""Pack one planned shard into a local tar, hashing while writing.

Each group becomes ``<key>.<ext>`` (the audio bytes unchanged) followed by ``<key>.json`` (its
metadata), in POSIX ustar (``TarInfo.tobuf``; written directly so the data offset of every
member is known and the audio is copied once). Headers are deterministic (mtime 0, uid/gid 0), so the
same plan packs to the same bytes. While writing, the shard's S3-style ETag is computed (the md5 of
the file, or for a shard of two parts or more the md5 of its ``part_size`` parts' md5s + ``-N``, as
S3 computes it for s3fs's multipart upload), and optionally its sha256: one hashing pass, no re-read.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ds2ray import fileio
from ds2ray.data.audio import AudioError
from ds2ray.tarmember import MemberRef, validate_member_name

from data_upload.plan import SampleGroup, ShardPlan, Skipped

log = logging.getLogger(__name__)

CHECKS = ("decode", "header")


class HashingWriter(io.RawIOBase):
    """A write-only file that forwards to ``fh`` and hashes what passes: the md5 of it all (``whole``),
    the md5 of each ``part_size`` block (``part_size`` set) and the sha256 (``sha256``)."""

    def __init__(self, fh: BinaryIO, part_size: int | None, *, whole: bool = True, sha256: bool = False) -> None:
        super().__init__()
        self._fh, self.part_size = fh, part_size
        self.sha256 = hashlib.sha256() if sha256 else None
        self.md5 = hashlib.md5() if whole else None
        self.part_digests: list[bytes] = []
        self._part, self._part_fill, self.size = hashlib.md5(), 0, 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._fh.write(view)
        if self.sha256 is not None:
            self.sha256.update(view)
        if self.md5 is not None:
            self.md5.update(view)
        pos = 0
        while self.part_size and pos < len(view):
            take = min(len(view) - pos, self.part_size - self._part_fill)
            self._part.update(view[pos:pos + take])
            self._part_fill += take
            pos += take
            if self._part_fill == self.part_size:
                self.part_digests.append(self._part.digest())
                self._part, self._part_fill = hashlib.md5(), 0
        self.size += len(view)
        return len(view)

    def part_md5s(self) -> list[bytes] | None:
        """md5 digests of consecutive ``part_size`` blocks (the last one may be short); None if not kept."""
        if not self.part_size:
            return None
        return self.part_digests + ([self._part.digest()] if self._part_fill else [])


def s3_etag(size: int, part_size: int, md5: str | None, part_md5s: list[bytes] | None) -> str:
    """The ETag S3 gives an object that s3fs uploaded with ``chunksize=part_size``: the md5 hex of the
    file below two parts (one PUT), else md5 of the concatenated part md5s and ``-<parts>``."""
    if size < 2 * part_size:
        assert md5 is not None
        return md5
    assert part_md5s is not None
    return hashlib.md5(b"".join(part_md5s)).hexdigest() + f"-{len(part_md5s)}"


def s3_etag_of_stream(fh: BinaryIO, size: int, part_size: int) -> str:
    """:func:`s3_etag` of a file read from ``fh`` (for verification by re-reading)."""
    whole, parts = hashlib.md5(), []
    for block in iter(lambda: fh.read(part_size), b""):
        if size < 2 * part_size:
            whole.update(block)
        else:
            parts.append(hashlib.md5(block).digest())
    return s3_etag(size, part_size, whole.hexdigest(), parts)


@dataclass
class PackedShard:
    """A packed shard on local disk plus everything the manifests and the verification need.

    ``md5`` (whole file) is set when the shard was expected to upload in one PUT, ``part_md5s`` when
    expected to upload in parts; :meth:`etag` fills in the other from the file if the guess was wrong.
    A shard streamed to S3 (:mod:`data_upload.multipart`) has no local ``path`` and the right one set.
    """

    plan: ShardPlan
    path: str
    size: int
    md5: str
    sha256: str
    part_size: int
    part_md5s: list[bytes] | None = field(repr=False, default=None)
    members: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(m["entries"]) for m in self.members)

    @property
    def duration(self) -> float:
        return sum(e["duration"] for m in self.members for e in m["entries"])

    def etag(self) -> str:
        """S3 ETag this shard gets when s3fs uploads it with ``chunksize=part_size`` (see :func:`s3_etag`)."""
        if self.size < 2 * self.part_size and not self.md5:
            with open(self.path, "rb") as fh:
                self.md5 = hashlib.file_digest(fh, "md5").hexdigest()
        if self.size >= 2 * self.part_size and self.part_md5s is None:
            with open(self.path, "rb") as fh:
                self.part_md5s = [hashlib.md5(b).digest() for b in iter(lambda: fh.read(self.part_size), b"")]
        return s3_etag(self.size, self.part_size, self.md5, self.part_md5s)


def _tar_header(name: str, size: int) -> bytes:
    """The 512-byte POSIX ustar header ``TarInfo.tobuf(USTAR_FORMAT)`` makes for a regular file with
    mode 0644, uid/gid 0, mtime 0 (built directly: ``tobuf`` costs ~0.1 ms a member)."""
    raw = validate_member_name(name).encode("utf-8")
    if len(raw) > 100:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uname, info.gname = size, 0, 0o644, "", ""
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")  # a pax header holds the name
    h = bytearray(tarfile.BLOCKSIZE)
    h[0:len(raw)] = raw
    h[100:148] = b"0000644\x000000000\x000000000\x00" + b"%011o\x00" % size + b"00000000000\x00"
    h[148:156] = b" " * 8
    h[156:157] = tarfile.REGTYPE
    h[257:265] = tarfile.POSIX_MAGIC
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


def _write_member(out: BinaryIO, name: str, data: bytes) -> int:
    """Header, data, padding to the 512-byte block. Returns the offset of the data in the archive."""
    out.write(_tar_header(name, len(data)))
    offset = out.tell()
    out.write(data)
    out.write(tarfile.NUL * (-len(data) % tarfile.BLOCKSIZE))
    return offset


def _finish_archive(out: BinaryIO) -> None:
    """Two zero blocks, then zeros up to a whole 10240-byte record (what ``TarFile.close`` writes)."""
    out.write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
    out.write(tarfile.NUL * (-out.tell() % tarfile.RECORDSIZE))


def check_audio(data: bytes, source: str, check: str) -> None:
    """Raise AudioError unless ``data`` is usable audio.

    ``decode``: compressed formats (FLAC, Vorbis, Opus, MP3, ...) are decoded in full (as int16,
    without building float arrays), so corrupt streams are caught; uncompressed PCM needs only its
    header, since any bytes after it are valid samples. ``header``: parse the header only.
    """
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as snd:
            frames = snd.frames
            if check == "decode" and not snd.subtype.startswith(("PCM_", "FLOAT", "DOUBLE", "ULAW", "ALAW")):
                frames = 0
                while True:
                    block = snd.buffer_read(1 << 16, dtype="int16")
                    if not len(block):
                        break
                    frames += len(block) // (2 * snd.channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(source, f"not readable audio ({err})") from err
    if frames <= 0:
        raise AudioError(source, "contains no audio samples")


def metadata(group: SampleGroup) -> dict[str, Any]:
    """The ``<key>.json`` of a group: the entry without its path, or ``{"segments": [...]}``."""
    metas = _entry_dicts(group)
    return metas[0] if len(metas) == 1 else {"segments": metas}


def pack_shard(plan: ShardPlan, path: str, *, part_size: int, check: str = "decode",
               sha256: bool = False) -> PackedShard:
    """Write ``plan`` as a tar at ``path``; audio that cannot be read or decoded is left out and listed."""
    # one md5 pass: of the parts when the shard should upload in two parts or more, else of it all
    multipart = plan.estimated_bytes >= 2 * part_size
    with open(path, "wb") as raw:
        out = HashingWriter(raw, part_size if multipart else None, whole=not multipart, sha256=sha256)
        members, skipped = write_tar(plan, out, check=check)
    return PackedShard(plan, path, out.size, out.md5.hexdigest() if out.md5 else "",
                       out.sha256.hexdigest() if out.sha256 else "", part_size, out.part_md5s(), members, skipped)


def write_tar(plan: ShardPlan, out: BinaryIO, *, check: str = "decode") -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Write the tar of ``plan`` into ``out`` (which must count bytes in ``tell()``). Returns the members
    (key, member name, data offset and size, entries) and the groups left out as unreadable."""
    if check not in CHECKS:
        raise ValueError(f"check must be one of {CHECKS}, got {check!r}")
    members: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for group in plan.groups:
        try:
            with fileio.open_file(group.source, "rb") as fh:
                data = fh.read()
            check_audio(data, group.source, check)
        except (AudioError, OSError) as err:
            reason = err.reason if isinstance(err, AudioError) else f"{type(err).__name__}: {err}"
            log.warning("leaving out unreadable audio %s: %s", group.source, reason)
            skipped.append(Skipped(group.source, reason, len(group.entries)))
            continue
        offset = _write_member(out, group.member, data)
        _write_member(out, f"{group.key}.json", json.dumps(metadata(group), ensure_ascii=False).encode())
        members.append({"key": group.key, "member": group.member, "offset": offset, "size": len(data),
                        "entries": _entry_dicts(group)})
    _finish_archive(out)
    return members, skipped


def _entry_dicts(group: SampleGroup) -> list[dict[str, Any]]:
    out = []
    for entry in group.entries:
        d = entry.to_dict()
        d.pop("audio_filepath")
        out.append(d)
    return out


def cloud_entries(shard_url: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cloud-manifest lines for a shard's members: ``audio_filepath`` becomes a member reference."""
    lines = []
    for m in members:
        ref = MemberRef(shard_url, m["member"], m["offset"], m["size"]).url()
        lines.extend({"audio_filepath": ref, **e} for e in m["entries"])
    return lines
