"""S3PartWriter against a real moto_server: objects stream up part by part and get exactly the ETag
that s3fs's put_file gives the same bytes (what verification and the index rely on)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from data_upload.multipart import S3PartWriter
from data_upload.pack import s3_etag

PART = 5 * 2**20  # the S3 minimum


def _write_in_pieces(writer: S3PartWriter, data: bytes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos = 0
    while pos < len(data):
        n = int(rng.integers(1, 3 * 2**20))
        writer.write(data[pos:pos + n])
        pos += n


@pytest.mark.parametrize("size", [1000, 2 * PART - 1, 2 * PART, 2 * PART + 1, 3 * PART])
def test_streamed_object_matches_put_file(s3, tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    key = f"{s3.bucket}/streamed-{size}"
    writer = S3PartWriter(s3.fs, key, PART)
    _write_in_pieces(writer, data, size)
    assert not s3.fs.exists(key)  # nothing visible before commit
    writer.commit()
    local = tmp_path / "x.bin"
    local.write_bytes(data)
    s3.fs.put_file(str(local), f"{s3.bucket}/raw-{size}", chunksize=PART)
    ours, raw = (s3.fs.info(k)["ETag"].strip('"') for k in (key, f"{s3.bucket}/raw-{size}"))
    expected = s3_etag(size, PART, hashlib.md5(data).hexdigest(),
                       [hashlib.md5(data[i:i + PART]).digest() for i in range(0, size, PART)])
    assert ours == raw == expected == s3_etag(size, PART, writer.md5, writer.part_md5s)
    assert ("-" in ours) == (size >= 2 * PART)
    assert s3.fs.cat_file(key) == data


def test_abort_leaves_no_object_and_no_pending_upload(s3):
    key = f"{s3.bucket}/aborted"
    with pytest.raises(RuntimeError, match="packing failed"):
        with S3PartWriter(s3.fs, key, PART) as writer:
            writer.write(b"\0" * (3 * PART))  # two parts already sent
            raise RuntimeError("packing failed")
    assert not s3.fs.exists(key)
    pending = s3.fs.call_s3("list_multipart_uploads", Bucket=s3.bucket).get("Uploads", [])
    assert pending == []
