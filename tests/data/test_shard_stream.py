"""The library-side shard reader: member-name validation, shard assignment, the streaming dataset."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.parse
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_upload.upload import UploadConfig, upload_manifest
from ds2ray.data.audio import load_audio
from ds2ray.data.manifest import read_manifest
from ds2ray.data.shard_stream import ShardStreamDataset, plan_epoch
from ds2ray.data.shards import iter_shard
from ds2ray.tarmember import MemberRef, UnsafeMemberError, validate_member_name
from ds2ray.fileio import open_file


def _tar(path, members: list[tuple[str, bytes]], link: str | None = None) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return str(path)


@pytest.mark.parametrize("name", ["/etc/passwd", "../evil.wav", "a/../../evil.json", "ok/..", "C:/x.wav", "",
                                  "x::s3://b/k.wav", "a\\..\\b.wav"])
def test_malicious_member_names_are_refused(tmp_path, name):
    with pytest.raises(UnsafeMemberError):
        validate_member_name(name)
    if not name or name.endswith(".."):
        return
    shard = _tar(tmp_path / "evil.tar", [("0001.json", b'{"duration": 1, "text": "a"}'), (name, b"RIFF")])
    with open(shard, "rb") as fh, pytest.raises(UnsafeMemberError, match="refusing tar member"):
        list(iter_shard(fh, shard))
    with pytest.raises(UnsafeMemberError):  # a reference naming such a member is refused as well
        with open_file(f"tarmember://{urllib.parse.quote(name, safe='/')}?offset=0&size=4::{shard}"):
            pass


def test_links_are_refused_and_safe_subfolders_accepted(tmp_path):
    shard = _tar(tmp_path / "link.tar", [("0001.json", b"{}")], link="0001.wav")
    with open(shard, "rb") as fh, pytest.raises(UnsafeMemberError, match="not a regular file"):
        list(iter_shard(fh, shard))
    meta = json.dumps({"duration": 0.5, "text": "hi"}).encode()
    shard = _tar(tmp_path / "ok.tar", [("sub/0001.wav", b"RIFFdata"), ("sub/0001.json", meta)])
    with open(shard, "rb") as fh:
        (record,) = list(iter_shard(fh, shard))
    assert record.key == "sub/0001" and record.entries[0].text == "hi"
    with open_file(record.entries[0].audio_filepath) as fh:  # the reference reads exactly the member bytes
        assert fh.read() == b"RIFFdata"
    assert MemberRef.parse(record.ref.url()) == record.ref


def test_streaming_over_a_malicious_shard_raises(tmp_path):
    shard = _tar(tmp_path / "evil.tar", [("../0001.wav", b"RIFF"), ("../0001.json", b"{}")])
    from ds2ray.data.shards import ShardInfo

    with pytest.raises(UnsafeMemberError):
        list(ShardStreamDataset([ShardInfo(shard, 1, 0)], shuffle=False))


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(0, 9), min_size=1, max_size=12), slots=st.integers(1, 8),
       epoch=st.integers(0, 3), balance=st.sampled_from(["truncate", "pad"]))
def test_plan_epoch_gives_distinct_shards_and_equal_quotas(counts, slots, epoch, balance):
    plans = [plan_epoch(counts, slots, s, epoch=epoch, seed=5, balance=balance) for s in range(slots)]
    assert len({p.quota for p in plans}) == 1  # every slot (rank x worker) yields the same number
    if len(counts) >= slots:
        dealt = [i for p in plans for i in p.shards]
        assert sorted(dealt) == list(range(len(counts)))  # distinct shards, all of them
        totals = [sum(counts[i] for i in p.shards) for p in plans]
        assert plans[0].quota == (min(totals) if balance == "truncate" else max(totals))
    else:  # fewer shards than slots: every slot reads all, keeps a distinct residue class of samples
        assert {p.phase for p in plans} == set(range(slots)) and all(p.stride == slots for p in plans)
        assert plans[0].quota == (sum(counts) // slots if balance == "truncate" else -(-sum(counts) // slots))


@pytest.fixture(scope="module")
def local_shards(tmp_path_factory):
    """8 shards on a local destination (upload to a folder: the same code path as S3)."""
    from ds2ray.testing.signals import sine, write_audio

    root = tmp_path_factory.mktemp("stream")
    lines = []
    for i in range(32):
        write_audio(root / f"a{i:02d}.wav", sine(200 + 10 * i, 0.05), 16000)
        lines.append(json.dumps({"audio_filepath": f"a{i:02d}.wav", "duration": 0.05, "text": f"t{i}"}))
    (root / "m.jsonl").write_text("\n".join(lines) + "\n")
    upload_manifest(read_manifest(root / "m.jsonl").entries,
                    UploadConfig(dest=str(root / "dest"), shard_size=None, num_shards=8, shuffle=True, seed=1))
    return root / "dest"


def _collect(dataset_kwargs: dict, world_size: int, num_workers: int, index: str) -> list[list[str]]:
    """Texts each rank receives through a real DataLoader with ``num_workers`` worker processes."""
    from torch.utils.data import DataLoader

    per_rank = []
    for rank in range(world_size):
        ds = ShardStreamDataset.from_index(index, rank=rank, world_size=world_size, **dataset_kwargs)
        ds.set_epoch(1)
        loader = DataLoader(ds, batch_size=None, num_workers=num_workers, collate_fn=lambda s: s.entry.text)
        texts = list(loader)
        assert len(texts) == ds.epoch_size(num_workers)
        per_rank.append(texts)
    return per_rank


def test_stream_gives_each_rank_and_worker_distinct_samples_covering_the_set(local_shards):
    index = str(local_shards / "index.json")
    per_rank = _collect({"shuffle_buffer": 4}, world_size=2, num_workers=2, index=index)
    everything = [t for texts in per_rank for t in texts]
    assert sorted(everything) == sorted(f"t{i}" for i in range(32))  # distinct and complete
    assert len(per_rank[0]) == len(per_rank[1]) == 16


def _sub_index(dest, tmp_path, n: int) -> tuple[str, int]:
    """An index of the first ``n`` shards only (absolute URLs), and its sample count."""
    index = json.loads((dest / "index.json").read_text())
    index["shards"] = index["shards"][:n]
    for s in index["shards"]:
        s["url"] = str(dest / s["url"])
    path = tmp_path / f"index{n}.json"
    path.write_text(json.dumps(index))
    return str(path), sum(s["count"] for s in index["shards"])


def test_stream_uneven_shards_equal_counts_per_rank(local_shards, tmp_path):
    index, total = _sub_index(local_shards, tmp_path, 7)  # 7 shards over 2 ranks x 2 workers: uneven
    truncate = _collect({"balance": "truncate"}, 2, 2, index)
    assert len(truncate[0]) == len(truncate[1]) > 0
    flat = [t for r in truncate for t in r]
    assert len(set(flat)) == len(flat) <= total  # no duplicates, nothing outside the set
    pad = _collect({"balance": "pad"}, 2, 2, index)
    assert len(pad[0]) == len(pad[1]) >= total / 2
    assert len(set(t for r in pad for t in r)) == total  # every sample, a few twice


def test_stream_fewer_shards_than_slots_strides_samples(local_shards, tmp_path):
    index, total = _sub_index(local_shards, tmp_path, 3)  # 3 shards, 2 ranks x 2 workers = 4 slots
    few = _collect({"shuffle": False}, 2, 2, index)
    flat = [t for r in few for t in r]
    assert len(set(flat)) == len(flat) and len(few[0]) == len(few[1]) == 2 * (total // 4)


def test_stream_from_manifest_honours_its_filters(local_shards):
    cloud = read_manifest(local_shards / "manifest.jsonl")
    subset = [e for e in cloud if int(e.text[1:]) % 2 == 0]
    ds = ShardStreamDataset.from_manifest(subset, shuffle=False, sample_rate=None)
    got = {s.entry.text: s for s in ds}
    assert sorted(got) == sorted(e.text for e in subset)
    sample = got["t4"]
    assert (sample.audio == load_audio(sample.entry.audio_filepath, None)).all()
