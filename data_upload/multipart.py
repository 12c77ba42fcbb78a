"""Stream a shard into S3 while it is being packed: multipart upload, part by part, from memory.

No local temp file: the tar is written into :class:`S3PartWriter`, which sends each ``part_size``
block as soon as it is full, so packing the next member overlaps with nothing waiting on disk, and
the bytes are read once (from the source audio) instead of three times (source, temp write, temp
read). Memory per shard in flight: at most two parts plus the member being written.

Objects get the same layout s3fs's ``put_file(chunksize=part_size)`` gives them, so the same ETag
(:func:`data_upload.pack.s3_etag`): one PUT below two parts, else ``part_size`` parts with a short
last one. The writer computes those md5s itself from the bytes it sends.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from typing import Any, Callable


class S3PartWriter(io.RawIOBase):
    """A write-only stream that becomes the S3 object ``path`` on :meth:`commit`.

    Nothing is visible at ``path`` before ``commit`` returns: parts of an unfinished multipart upload
    are not an object. :meth:`abort` (or an exception inside ``with``) discards what was sent.
    ``before_send(nbytes)`` is called before each request with a body (rate limiting).
    """

    def __init__(self, fs: Any, path: str, part_size: int,
                 before_send: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.fs, self.part_size = fs, part_size
        self.bucket, self.key, _ = fs.split_path(path)
        self.path = path
        self._before_send = before_send or (lambda n: None)
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.part_md5s: list[bytes] = []
        self.md5 = ""  # md5 of the whole object when it went up in one PUT
        self.size = 0
        self.committed = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        self._buf += data
        self.size += n
        # s3fs's rule: multipart only for two parts or more, so hold two parts before starting one
        while len(self._buf) >= (self.part_size if self._upload_id else 2 * self.part_size):
            self._send_part(bytes(self._buf[:self.part_size]))
            del self._buf[:self.part_size]
        return n

    def _send_part(self, body: bytes) -> None:
        if self._upload_id is None:
            mpu = self.fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=self.key)
            self._upload_id = mpu["UploadId"]
        number = len(self._parts) + 1
        self._before_send(len(body))
        out = self.fs.call_s3("upload_part", Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                              PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": out["ETag"]})
        self.part_md5s.append(hashlib.md5(body).digest())

    def commit(self) -> None:
        """Send what is left and make the object appear (complete the multipart upload, or one PUT)."""
        if self.committed:
            return
        if self._upload_id is None:
            body = bytes(self._buf)
            self._before_send(len(body))
            self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=body)
            self.md5 = hashlib.md5(body).hexdigest()
        else:
            if self._buf:
                self._send_part(bytes(self._buf))
            self.fs.call_s3("complete_multipart_upload", Bucket=self.bucket, Key=self.key,
                            UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})
        self._buf = bytearray()
        self.committed = True
        self.fs.invalidate_cache(self.path)

    def abort(self) -> None:
        """Drop the buffer and any parts sent (best effort: a lifecycle rule cleans up what is left)."""
        self._buf = bytearray()
        if self._upload_id is not None and not self.committed:
            with contextlib.suppress(Exception):
                self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key,
                                UploadId=self._upload_id)
            self._upload_id = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        super().__exit__(exc_type, exc, tb)
