"""Credential scrubbing, retries with backoff, sizes, hashing and packing (no server needed)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from data_upload.pack import HashingWriter, pack_shard, s3_etag, s3_etag_of_stream
from data_upload.plan import build_plan, parse_size
from data_upload.storage import UploadError, scrub, with_retries
from ds2ray.data.manifest import ManifestEntry


def test_scrub_removes_credentials(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEJr//////////session")
    text = ("failed: secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY token FwoGZXIvYXdzEJr//////////session "
            "url https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abc123 "
            "s3://user:pa55word@host/x {'aws_secret_access_key': 'inline-secret'}")
    out = scrub(text)
    for secret in ("wJalrXUtnFEMI", "FwoGZXIvYXdz", "AKIA%2F2026", "abc123", "pa55word", "inline-secret"):
        assert secret not in out
    assert out.startswith("failed: secret ***")


def test_retries_transient_errors_with_backoff_but_not_access_errors():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("connection reset by peer")
        return "ok"

    assert with_retries(flaky, "upload", retries=4, backoff=0.5, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and 0.5 <= sleeps[0] <= 0.75 and 1.0 <= sleeps[1] <= 1.5
    denied = []

    def forbidden():
        denied.append(1)
        raise PermissionError("AccessDenied")

    with pytest.raises(PermissionError):
        with_retries(forbidden, "upload", retries=4, sleep=sleeps.append)
    assert len(denied) == 1
    with pytest.raises(TimeoutError):
        with_retries(lambda: (_ for _ in ()).throw(TimeoutError("slow")), "x", retries=2, sleep=lambda s: None)


def test_parse_size():
    assert parse_size("256MB") == 256_000_000 and parse_size("1GiB") == 2**30 and parse_size("4096") == 4096
    assert parse_size("16MiB") == 16 * 2**20 and parse_size("1.5k") == 1500
    with pytest.raises(ValueError, match="256MB"):
        parse_size("lots")


def test_hashing_writer_predicts_s3_etags():
    data = bytes(range(256)) * 1000  # 256000 bytes, parts of 100000
    w = HashingWriter(io.BytesIO(), 100_000, sha256=True)
    for i in range(0, len(data), 7777):
        w.write(data[i:i + 7777])
    parts = [hashlib.md5(data[i:i + 100_000]).digest() for i in range(0, len(data), 100_000)]
    assert w.part_md5s() == parts and w.size == len(data)
    assert w.sha256.hexdigest() == hashlib.sha256(data).hexdigest() and w.md5.hexdigest() == hashlib.md5(data).hexdigest()
    multipart = s3_etag(len(data), 100_000, None, w.part_md5s())
    assert multipart == hashlib.md5(b"".join(parts)).hexdigest() + "-3"
    assert s3_etag_of_stream(io.BytesIO(data), len(data), 100_000) == multipart
    assert s3_etag_of_stream(io.BytesIO(data), len(data), 200_000) == hashlib.md5(data).hexdigest()  # one PUT


def test_pack_is_deterministic_and_keeps_bytes(tmp_path):
    from ds2ray.testing.signals import sine, write_audio

    entries = []
    for i in range(3):
        p = write_audio(tmp_path / f"x{i}.flac", sine(300, 0.2 + 0.1 * i), 16000)
        entries.append(ManifestEntry(str(p), 0.2 + 0.1 * i, f"text {i}", speaker="s", extra={"lang": "en"}))
    (plan,), skipped = build_plan(entries, num_shards=1)
    a = pack_shard(plan, str(tmp_path / "a.tar"), part_size=5 * 2**20)
    b = pack_shard(plan, str(tmp_path / "b.tar"), part_size=5 * 2**20)
    assert a.etag() == b.etag() and not skipped and a.count == 3
    assert a.md5 == a.etag() == hashlib.md5(open(a.path, "rb").read()).hexdigest()
    c = pack_shard(plan, str(tmp_path / "c.tar"), part_size=10_000)  # expected multipart: part md5s only
    assert c.md5 == "" and c.etag() == s3_etag_of_stream(open(c.path, "rb"), c.size, 10_000)
    with tarfile.open(tmp_path / "a.tar") as tar:
        names = tar.getnames()
        assert names == [n for m in a.members for n in (m["member"], m["key"] + ".json")]
        for m, entry in zip(a.members, entries):
            assert tar.extractfile(m["member"]).read() == open(entry.audio_filepath, "rb").read()
            meta = json.loads(tar.extractfile(m["key"] + ".json").read())
            assert meta == {"duration": round(entry.duration, 4), "text": entry.text, "speaker": "s", "lang": "en"}


def test_plan_rejects_empty_and_all_missing():
    with pytest.raises(ValueError, match="no entries"):
        build_plan([], num_shards=1)
    with pytest.raises(ValueError, match="none of the 1"):
        build_plan([ManifestEntry("/nonexistent/a.wav", 1.0, "a")], num_shards=1)
    assert issubclass(UploadError, RuntimeError)


def test_tar_headers_match_tarfile_and_long_names_read_back():
    from data_upload.pack import _tar_header

    for name, size in [("0000001-clip00001.wav", 160044), ("0000001-clip00001.json", 3), ("x" * 100, 0)]:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uname, info.gname = size, 0, 0o644, "", ""
        assert _tar_header(name, size) == info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    long = "deep/" + "y" * 150 + ".wav"
    blob = _tar_header(long, 3) + b"abc" + bytes(509) + bytes(1024)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        (member,) = tar.getmembers()
        assert member.name == long and tar.extractfile(member).read() == b"abc"
