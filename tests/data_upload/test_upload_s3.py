"""``ds2ray upload`` against a real S3-protocol server on 127.0.0.1, then reading the shards back."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from data_upload.pack import s3_etag_of_stream
from data_upload.upload import UploadConfig, upload_manifest
from ds2ray.cli import main
from ds2ray.data.audio import load_audio
from ds2ray.data.manifest import read_manifest
from ds2ray import fileio
from ds2ray.data.shard_stream import ShardStreamDataset
from ds2ray.data.shards import read_index
from ds2ray.tarmember import MemberRef



WRONG_SECRET = "wrong-secret-never-printed-7d2e"


def _originals(corpus) -> dict[str, np.ndarray]:
    out = {}
    for e in read_manifest(corpus.manifest):
        if e.text != "corrupt":
            out[e.text] = load_audio(e.audio_filepath, offset=e.offset, duration=e.duration)
    return out


def test_upload_then_read_back_through_cloud_manifest(s3, corpus):
    dest = f"{s3.url}/corpus"
    report = upload_manifest(read_manifest(corpus.manifest).entries,
                             UploadConfig(dest=dest, shard_size=None, num_shards=3, shuffle=True, seed=7, sha256=True))
    assert (report.num_shards, report.uploaded, report.reused) == (3, 3, 0)
    # the corrupt file is reported, counted and left out, not packed
    assert [s.source for s in report.skipped] == [str(corpus.bad_audio)] and report.skipped_entries == 1

    cloud = read_manifest(f"{dest}/manifest.jsonl")
    originals = _originals(corpus)
    assert sorted(e.text for e in cloud) == sorted(corpus.good_texts)
    for entry in cloud:  # random access by member: byte-range reads through load_audio
        assert entry.audio_filepath.startswith("tarmember://") and f"::{dest}/shards/" in entry.audio_filepath
        got = load_audio(entry.audio_filepath, offset=entry.offset, duration=entry.duration)
        np.testing.assert_array_equal(got, originals[entry.text])

    ref = MemberRef.parse(cloud[0].audio_filepath)
    assert fileio.exists(cloud[0].audio_filepath) and fileio.exists(ref.shard)
    assert not fileio.exists(MemberRef(ref.shard, ref.member, ref.offset + 10**9, ref.size).url())
    assert not fileio.exists(MemberRef(f"{dest}/shards/missing.tar", ref.member, 0, 1).url())

    index = read_index(f"{dest}/index.json")
    assert index.num_samples == len(corpus.good_texts) and index.skipped[0]["reason"]
    per_shard = []
    for shard in index.shards:  # checksums in the index are those of the stored objects
        data = s3.fs.cat_file(shard.url)
        assert (len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()) == (
            shard.bytes, shard.sha256, shard.md5)
        assert s3.fs.info(shard.url)["ETag"].strip('"') == shard.etag == shard.md5  # small: one PUT
        per_shard += [e.audio_filepath for e in read_manifest(shard.manifest)]
        assert len(read_manifest(shard.manifest)) == shard.count
    assert sorted(per_shard) == sorted(e.audio_filepath for e in cloud)

    # the streaming reader over S3 (with a local cache) yields the same audio
    stream = ShardStreamDataset.from_index(f"{dest}/index.json", shuffle=False, sample_rate=16000,
                                           cache_dir=str(corpus.root / f"cache-{s3.bucket}"))
    streamed = {s.entry.text: s.audio for s in stream}
    assert sorted(streamed) == sorted(corpus.good_texts)
    for text, audio in streamed.items():
        np.testing.assert_allclose(audio, originals[text], atol=1e-6)
    assert len(list((corpus.root / f"cache-{s3.bucket}").glob("*.tar"))) == 3


def test_mean_std_accepts_cloud_manifest(s3, corpus, tmp_path):
    dest = f"{s3.url}/c"
    assert main(["upload", "--manifest", str(corpus.manifest), "--dest", dest, "--num-shards", "2"]) == 0
    local, cloud = tmp_path / "local.npz", tmp_path / "cloud.npz"
    good = tmp_path / "good.jsonl"  # the local manifest without the corrupt line, for the same set
    good.write_text("".join(line + "\n" for line in corpus.manifest.read_text().splitlines() if "corrupt" not in line)
                    .replace('"audio/', f'"{corpus.root}/audio/'))
    for manifest, out in ((good, local), (f"{dest}/manifest.jsonl", cloud)):
        assert main(["mean-std", "--manifest", str(manifest), "--out", str(out), "--num-samples", "0",
                     "--num-workers", "1"]) == 0
    a, b = np.load(local), np.load(cloud)
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-5)
    np.testing.assert_allclose(a["std"], b["std"], rtol=1e-5)


def test_multipart_shard_verified_by_etag(s3, tmp_path, monkeypatch):
    from ds2ray.testing.signals import noise, write_audio

    # one ~11.5 MiB WAV: with 5 MiB parts the shard uploads in 3 parts and gets a multipart ETag
    write_audio(tmp_path / "big.wav", noise(380.0, 16000, seed=1), 16000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "big.wav", "duration": 380.0, "text": "x"}) + "\n")
    dest = f"{s3.url}/big"
    report = upload_manifest(read_manifest(tmp_path / "m.jsonl").entries,
                             UploadConfig(dest=dest, num_shards=1, shard_size=None, part_size=5 * 2**20,
                                          verify="etag", check="header"))
    assert report.uploaded == 1
    info = s3.fs.info(f"{dest}/shards/shard-000000.tar")
    (shard,) = read_index(f"{dest}/index.json").shards
    assert info["ETag"].strip('"') == shard.etag and shard.etag.endswith("-3") and shard.part_size == 5 * 2**20
    with s3.fs.open(shard.url, "rb") as fh:  # the index's ETag is what the stored bytes hash to
        assert s3_etag_of_stream(fh, shard.bytes, shard.part_size) == shard.etag
    again = upload_manifest(read_manifest(tmp_path / "m.jsonl").entries,  # re-run, verifying by re-reading
                            UploadConfig(dest=dest, num_shards=1, shard_size=None, part_size=5 * 2**20,
                                         verify="read", check="header"))
    assert (again.uploaded, again.reused) == (0, 1)
    entry = read_manifest(f"{dest}/manifest.jsonl")[0]
    monkeypatch.setattr(fileio, "WHOLE_MEMBER_LIMIT", 2**20)  # read this member lazily, block by block
    np.testing.assert_array_equal(load_audio(entry.audio_filepath, offset=300.0, duration=1.0),
                                  load_audio(str(tmp_path / "big.wav"), offset=300.0, duration=1.0))


def test_empty_manifest_is_a_clear_error(s3, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["upload", "--manifest", str(empty), "--dest", f"{s3.url}/e"]) == 2
    err = capsys.readouterr().err
    assert "empty.jsonl" in err and "nothing to upload" in err
    assert s3.fs.find(s3.bucket) == []


def test_missing_bucket_is_a_clear_error(s3, corpus, capsys):
    assert main(["upload", "--manifest", str(corpus.manifest), "--dest", "s3://no-such-bucket-ds2ray/x"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "no-such-bucket-ds2ray" in err


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_wrong_credentials_clear_error_no_manifest(auth_s3, make_corpus, tmp_path, monkeypatch, capsys, wrong):
    import s3fs

    corpus = make_corpus(tmp_path, n=3, bad=False)
    good = s3fs.S3FileSystem(key=auth_s3.key_id, secret=auth_s3.secret, skip_instance_cache=True,
                             client_kwargs={"endpoint_url": auth_s3.endpoint})
    bucket = f"auth-{wrong}"
    good.mkdir(bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", auth_s3.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_s3.key_id if wrong == "secret" else "AKIANOTAKEY000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    s3fs.S3FileSystem.clear_instance_cache()
    argv = ["upload", "--manifest", str(corpus.manifest), "--dest", f"s3://{bucket}/p", "--num-shards", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "access denied" in err and "AWS_ACCESS_KEY_ID" in err
    assert WRONG_SECRET not in err and auth_s3.secret not in err
    assert good.find(bucket) == []  # no manifest, no index, no shard

    if wrong == "key":
        return
    # the same command with the right credentials goes through: the server does check them
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_s3.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auth_s3.secret)
    s3fs.S3FileSystem.clear_instance_cache()
    assert main(argv) == 0
    assert good.exists(f"{bucket}/p/index.json") and good.exists(f"{bucket}/p/manifest.jsonl")
    assert auth_s3.secret not in capsys.readouterr().out
    s3fs.S3FileSystem.clear_instance_cache()
