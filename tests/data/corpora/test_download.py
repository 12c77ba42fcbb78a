"""Downloads against a real HTTP server on 127.0.0.1 (Range, dropped connections, error statuses)
and safe archive extraction with real (and malicious) tar/zip files."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ds2ray.data.corpora.download import (
    ChecksumError,
    DownloadError,
    Resource,
    UnsafeArchiveError,
    download,
    download_and_extract,
    extract_archive,
    extraction_marker,
)
from ds2ray.testing.http_server import serve_directory

SIZE = 300_000


@pytest.fixture()
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    payload = np.random.default_rng(0).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    (root / "blob.bin").write_bytes(payload)
    with serve_directory(root) as server:
        yield server, payload


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_resumes_after_the_connection_drops(served, tmp_path):
    server, payload = served
    server.drop_after["/blob.bin"] = [100_000]
    out = download(f"{server.url}/blob.bin", tmp_path / "dl", md5=md5(payload),
                   sha256=hashlib.sha256(payload).hexdigest(), backoff=0.01, progress=False)
    assert out == tmp_path / "dl"
    assert out.read_bytes() == payload
    (first, _, r1), (second, _, r2) = server.gets("/blob.bin")
    assert r1 is None and r2 is not None  # the second request resumed where the part file ended
    assert 0 < int(r2.removeprefix("bytes=").rstrip("-")) <= 100_000
    assert not (tmp_path / "dl.part").exists()


def test_resumes_a_part_file_left_by_an_earlier_run(served, tmp_path):
    server, payload = served
    (tmp_path / "blob.bin.part").write_bytes(payload[:123_456])
    out = download(f"{server.url}/blob.bin", tmp_path, md5=md5(payload), progress=False)
    assert out == tmp_path / "blob.bin" and out.read_bytes() == payload
    assert [g[2] for g in server.gets()] == ["bytes=123456-"]


def test_complete_part_file_is_finished_without_refetching(served, tmp_path):
    server, payload = served
    (tmp_path / "blob.bin.part").write_bytes(payload)
    out = download(f"{server.url}/blob.bin", tmp_path, md5=md5(payload), progress=False)
    assert out.read_bytes() == payload
    assert [g[2] for g in server.gets()] == [f"bytes={SIZE}-"]  # answered 416 with the total size


def test_server_without_range_support_restarts_from_zero(served, tmp_path):
    server, payload = served
    server.ignore_range = True
    (tmp_path / "blob.bin.part").write_bytes(b"x" * 5000)
    out = download(f"{server.url}/blob.bin", tmp_path, md5=md5(payload), progress=False)
    assert out.read_bytes() == payload


def test_checksum_mismatch_is_a_clear_error_and_removes_the_bad_file(served, tmp_path):
    server, payload = served
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as err:
        download(f"{server.url}/blob.bin", tmp_path, md5=wrong, progress=False)
    msg = str(err.value)
    assert "checksum mismatch" in msg and wrong in msg and md5(payload) in msg and "/blob.bin" in msg
    assert not (tmp_path / "blob.bin").exists() and not (tmp_path / "blob.bin.part").exists()


def test_corrupt_partial_download_is_caught_by_the_checksum_then_recovers(served, tmp_path):
    server, payload = served
    (tmp_path / "blob.bin.part").write_bytes(b"\0" * 1000)  # wrong bytes: resuming cannot fix them
    with pytest.raises(ChecksumError):
        download(f"{server.url}/blob.bin", tmp_path, md5=md5(payload), progress=False)
    assert not (tmp_path / "blob.bin.part").exists()
    assert download(f"{server.url}/blob.bin", tmp_path, md5=md5(payload), progress=False).read_bytes() == payload


def test_rerun_skips_a_verified_file_and_refetches_a_changed_one(served, tmp_path):
    server, payload = served
    url = f"{server.url}/blob.bin"
    path = download(url, tmp_path, md5=md5(payload), progress=False)
    download(url, tmp_path, md5=md5(payload), progress=False)
    assert len(server.gets()) == 1  # second call made no request
    path.write_bytes(b"tampered")
    assert download(url, tmp_path, md5=md5(payload), progress=False).read_bytes() == payload
    assert len(server.gets()) == 2


def test_transient_errors_are_retried_and_permanent_ones_are_not(served, tmp_path):
    server, payload = served
    server.fail_status["/blob.bin"] = [503, 503]
    out = download(f"{server.url}/blob.bin", tmp_path, backoff=0.01, progress=False)
    assert out.read_bytes() == payload and len(server.gets()) == 3
    with pytest.raises(DownloadError, match="404"):
        download(f"{server.url}/missing.bin", tmp_path, backoff=0.01, progress=False)
    assert len(server.gets("/missing.bin")) == 1


def test_giving_up_keeps_the_partial_file_for_a_later_resume(served, tmp_path):
    server, payload = served
    server.drop_after["/blob.bin"] = [100_000, 100_000]
    with pytest.raises(DownloadError, match="re-run to resume"):
        download(f"{server.url}/blob.bin", tmp_path, retries=1, backoff=0.01, progress=False)
    assert server.gets()[1][2] is not None  # the retry resumed too
    kept = (tmp_path / "blob.bin.part").read_bytes()
    assert 100_000 < len(kept) < SIZE and kept == payload[:len(kept)]
    out = download(f"{server.url}/blob.bin", tmp_path, md5=md5(payload), progress=False)
    assert out.read_bytes() == payload
    assert server.gets()[-1][2] == f"bytes={len(kept)}-"


def test_gzip_content_encoding_label_is_not_undone(tmp_path):
    """Servers often label .tar.gz files 'Content-Encoding: gzip'; the file must stay as published."""
    www = tmp_path / "www"
    www.mkdir()
    archive = _tar(www / "c.tar.gz", [("c/x.txt", b"hello" * 1000)])
    with serve_directory(www) as server:
        server.extra_headers["/c.tar.gz"] = {"Content-Encoding": "gzip"}
        out = download(f"{server.url}/c.tar.gz", tmp_path, md5=md5(archive.read_bytes()), progress=False)
    assert out.read_bytes() == archive.read_bytes()


# --------------------------------------------------------------------------- extraction
def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return path


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_extracts_merges_and_skips_on_rerun(tmp_path):
    dest = tmp_path / "out"
    a = _tar(tmp_path / "a.tar.gz", [("Corpus/a/1.txt", b"one"), ("Corpus/README", b"r1")])
    b = _tar(tmp_path / "b.tgz", [("Corpus/b/2.txt", b"two"), ("Corpus/README", b"r2"),
                                  _link("Corpus/b/link.txt", "2.txt")])
    extract_archive(a, dest)
    extract_archive(b, dest)
    assert (dest / "Corpus/a/1.txt").read_bytes() == b"one"  # first part kept
    assert (dest / "Corpus/b/2.txt").read_bytes() == b"two"
    assert (dest / "Corpus/b/link.txt").read_bytes() == b"two"  # an in-tree link is fine
    assert extraction_marker(a, dest).exists() and extraction_marker(b, dest).exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".extract-")]
    a.unlink()  # a re-run must not even need the archive
    extract_archive(a, dest)


@pytest.mark.parametrize("member", [
    ("../evil.txt", b"x"),
    ("ok/../../evil.txt", b"x"),
    ("/tmp/ds2ray-evil-absolute.txt", b"x"),
    _link("innocent", "/etc/passwd"),
    _link("sub/innocent", "../../evil.txt"),
    _link("hard", "../evil.txt", tarfile.LNKTYPE),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-absolute", "symlink-escape", "hardlink-escape"])
def test_malicious_tar_member_is_rejected_and_nothing_is_written(tmp_path, member):
    dest = tmp_path / "out"
    archive = _tar(tmp_path / "evil.tar.gz", [("good/first.txt", b"fine"), member])
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract_archive(archive, dest)
    assert list(dest.iterdir()) == []  # no good/first.txt, no marker, no temp folder
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/ds2ray-evil-absolute.txt").exists()


def test_malicious_zip_member_is_rejected(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.txt", "fine")
        zf.writestr("../evil.txt", "x")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "evil.txt").exists()
    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w") as zf:
        zf.writestr("d/good.txt", "fine")
    extract_archive(ok, tmp_path / "out")
    assert (tmp_path / "out/d/good.txt").read_text() == "fine"


def test_truncated_archive_leaves_nothing_that_looks_finished(tmp_path):
    big = np.random.default_rng(1).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    archive = _tar(tmp_path / "t.tar.gz", [("d/a.bin", big), ("d/b.bin", big)])
    archive.write_bytes(archive.read_bytes()[: os.path.getsize(archive) // 2])
    with pytest.raises(RuntimeError, match="truncated or corrupt"):
        extract_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_download_and_extract_end_to_end(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    archive = _tar(www / "corpus.tar.gz", [("corpus/x.txt", b"hello")])
    digest = md5(archive.read_bytes())
    with serve_directory(www) as server:
        res = Resource(f"{server.url}/corpus.tar.gz", md5=digest)
        download_and_extract(res, tmp_path / "dl", tmp_path / "data", remove_archive=True, progress=False)
        assert (tmp_path / "data/corpus/x.txt").read_bytes() == b"hello"
        assert not (tmp_path / "dl/corpus.tar.gz").exists()
        download_and_extract(res, tmp_path / "dl", tmp_path / "data", progress=False)
        assert len(server.gets()) == 1  # the marker made the re-run skip the download
