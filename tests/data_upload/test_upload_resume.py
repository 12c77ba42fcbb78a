"""Kill ``ds2ray upload`` with SIGKILL mid-way, then resume: no manifest in between, nothing lost or doubled."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from data_upload.upload import STATE_DIR, UploadConfig, upload_manifest
from ds2ray.data.audio import load_audio
from ds2ray.data.manifest import read_manifest
from ds2ray.data.shards import read_index

NUM_SHARDS = 6


def _receipts(s3, dest: str) -> list[str]:
    s3.fs.invalidate_cache()
    try:
        return [p for p in s3.fs.ls(f"{dest}/{STATE_DIR}", detail=False) if p.endswith(".json")]
    except FileNotFoundError:
        return []


def test_sigkill_mid_upload_then_resume(s3, make_corpus, tmp_path):
    corpus = make_corpus(tmp_path, n=12, bad=False)
    dest = f"{s3.url}/resume"
    total = sum(p.stat().st_size for p in (corpus.root / "audio").iterdir())
    # one shard at a time, rate-limited so the whole run would take ~6 s: killed after 2 shards
    cmd = [sys.executable, "-m", "ds2ray.cli", "upload", "--manifest", str(corpus.manifest), "--dest", dest,
           "--num-shards", str(NUM_SHARDS), "--shuffle", "--seed", "3", "--jobs", "1",
           "--limit-rate", str(int(total / 6.0)), "--work-dir", str(tmp_path / "work")]  # SIGKILL leaves it
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while len(_receipts(s3, dest)) < 2:
        assert proc.poll() is None, f"upload ended before it could be killed: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no shard finished within 60 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    done_before = len(_receipts(s3, dest))
    assert 2 <= done_before < NUM_SHARDS
    # an interrupted run leaves no manifest and no index
    assert not s3.fs.exists(f"{dest}/manifest.jsonl") and not s3.fs.exists(f"{dest}/index.json")
    assert not s3.fs.exists(f"{dest}/manifests")

    report = upload_manifest(read_manifest(corpus.manifest).entries,
                             UploadConfig(dest=dest, shard_size=None, num_shards=NUM_SHARDS, shuffle=True, seed=3))
    assert report.reused == done_before and report.uploaded == NUM_SHARDS - done_before

    cloud = read_manifest(f"{dest}/manifest.jsonl")
    texts = [e.text for e in cloud]
    assert sorted(texts) == sorted(corpus.good_texts) and len(set(texts)) == len(texts)  # each exactly once
    originals = {e.text: load_audio(e.audio_filepath, offset=e.offset, duration=e.duration)
                 for e in read_manifest(corpus.manifest)}
    for e in cloud:
        np.testing.assert_array_equal(load_audio(e.audio_filepath, offset=e.offset, duration=e.duration),
                                      originals[e.text])
    index = read_index(f"{dest}/index.json")
    assert len(index.shards) == NUM_SHARDS and index.num_samples == len(corpus.good_texts)
    for shard in index.shards:
        assert hashlib.md5(s3.fs.cat_file(shard.url)).hexdigest() == shard.md5 == shard.etag  # one-part shards

    # a third run finds everything in place; a damaged shard is detected and uploaded again
    victim = index.shards[0].url
    s3.fs.pipe_file(victim, b"damaged")
    again = upload_manifest(read_manifest(corpus.manifest).entries,
                            UploadConfig(dest=dest, shard_size=None, num_shards=NUM_SHARDS, shuffle=True, seed=3))
    assert (again.uploaded, again.reused) == (1, NUM_SHARDS - 1)
    assert hashlib.md5(s3.fs.cat_file(victim)).hexdigest() == index.shards[0].etag
    assert json.loads(s3.fs.cat_file(f"{dest}/index.json"))["plan"] == index.extra["plan"]


def test_changed_plan_replaces_outputs_and_stale_shards(s3, corpus):
    dest = f"{s3.url}/replan"
    entries = read_manifest(corpus.manifest).entries
    upload_manifest(entries, UploadConfig(dest=dest, shard_size=None, num_shards=4))
    report = upload_manifest(entries, UploadConfig(dest=dest, shard_size=None, num_shards=2))
    assert (report.num_shards, report.uploaded) == (2, 2)
    s3.fs.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[1] for p in s3.fs.ls(f"{dest}/shards")) == ["shard-000000.tar", "shard-000001.tar"]
    assert len(read_manifest(f"{dest}/manifest.jsonl")) == len(corpus.good_texts)
