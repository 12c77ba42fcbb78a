"""Streaming training (``--stream``) from tar shards written by ``ds2ray upload`` to a local destination:
balanced distinct batches per rank, resume by skipping, a corrupt member counted, a plain manifest refused."""

from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import pytest

from ds2ray.cli import main
from ds2ray.train.loop import TrainData, run_training
from ds2ray.train.session import LocalSession


@pytest.fixture(scope="module")
def shards(tiny_corpus, tmp_path_factory) -> dict[str, str]:
    """The tiny training manifest packed into 3 shards, plus a copy whose first member is corrupt."""
    out = tmp_path_factory.mktemp("stream")
    dests = {}
    for name in ("good", "corrupt"):
        dest = out / name
        assert main(["upload", "--manifest", tiny_corpus["train"], "--dest", str(dest), "--num-shards", "3",
                     "--jobs", "1"]) == 0
        dests[name] = str(dest / "manifest.jsonl")
    shard = sorted((out / "corrupt" / "shards").glob("*.tar"))[0]
    with tarfile.open(shard) as tar:
        member = next(m for m in tar.getmembers() if not m.name.endswith(".json"))
    with open(shard, "r+b") as fh:  # same size, so the tar stays valid, but the audio is garbage
        fh.seek(member.offset_data)
        fh.write(b"\x00garbage!" * (member.size // 9))
    return dests


def indices(data: TrainData, epoch: int, start: int = 0) -> list[list[int]]:
    return [batch.indices for batch in data.loader(epoch, start)]


def test_ranks_get_distinct_balanced_batches(make_job, shards):
    job = make_job(train_manifests=(shards["good"],), stream=True, batch_size=4)
    ranks = [TrainData(job, rank, 2) for rank in range(2)]
    for epoch in range(2):
        counts = [data.num_batches(epoch) for data in ranks]
        assert counts[0] == counts[1] > 0  # DDP ranks stay in step
        seen = [indices(data, epoch) for data in ranks]
        assert [len(s) for s in seen] == counts
        flat = [[i for batch in s for i in batch] for s in seen]
        assert not set(flat[0]) & set(flat[1])  # distinct shards per rank
        assert all(1 <= len(batch) <= 4 for s in seen for batch in s)


@pytest.mark.parametrize("loader_workers", [0, 2])
def test_resume_skips_exactly_the_batches_done(make_job, shards, loader_workers):
    job = make_job(train_manifests=(shards["good"],), stream=True, batch_size=3, loader_workers=loader_workers)
    data = TrainData(job, 0, 1)
    full = indices(data, 1)
    assert len(full) == data.num_batches(1)
    seen = [i for batch in full for i in batch]
    assert len(seen) == len(set(seen))  # no utterance twice in an epoch
    if loader_workers == 0:  # one reader: every utterance once (more readers truncate to equal quotas)
        assert sorted(seen) == list(range(len(data.train_utts)))
    assert indices(data, 1, start=3) == full[3:]
    assert indices(data, 0) != full  # a new shuffle each epoch


def test_stream_training_counts_a_corrupt_member_and_resumes(make_job, shards, tmp_path):
    ckpts = str(tmp_path / "ckpts")
    job = make_job(train_manifests=(shards["corrupt"],), stream=True, batch_size=4, epochs=2, run_name="s")
    total = sum(TrainData(job, 0, 1).num_batches(e) for e in range(2))
    first = run_training(job.__class__(job.train.replace(max_steps=total - 2), job.model, job.features, job.vocab,
                                       job.normalizer), LocalSession(ckpts))
    assert first["stopped"] == f"max_steps {total - 2} reached"
    last = run_training(job, LocalSession(ckpts))
    with open(Path(job.train.storage_path) / "s" / "logs" / "steps.csv", newline="") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == list(range(1, total + 1))  # no step lost, none twice
    with open(Path(job.train.storage_path) / "s" / "logs" / "epochs.csv", newline="") as fh:
        epochs = list(csv.DictReader(fh))
    # the corrupt member, counted once per epoch (epoch 2 in two parts, around the restart); the run went on
    assert float(epochs[0]["skipped"]) == 1.0
    assert sum(float(r["skipped"]) for r in epochs if r["epoch"] == "2") == 1.0
    assert "stopped" not in last  # the second run trained to the end of the plan


def test_stream_refuses_a_plain_manifest(make_job):
    job = make_job(stream=True)
    with pytest.raises(ValueError, match="cloud manifest written by `ds2ray upload`"):
        TrainData(job, 0, 1)
