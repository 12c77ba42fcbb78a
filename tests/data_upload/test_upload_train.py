"""Upload to S3 (moto), delete the local audio, then ``ds2ray train`` on local Ray reads its batches from
the shards through the cloud manifest (map-style dataset with byte-range reads of members, then
``--stream`` reading whole shards), and
``ds2ray test`` evaluates the checkpoint on the same cloud manifest."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ds2ray.cli import main

pytestmark = pytest.mark.slow

WORDS = ["yes", "no", "go left", "turn right", "stop", "open the door", "up", "down", "red light", "blue"]


def _workers_see(ray, values: dict[str, str]) -> bool:
    @ray.remote(num_cpus=0)
    def env() -> dict[str, str | None]:
        return {k: os.environ.get(k) for k in values}

    return ray.get(env.remote()) == values


def test_train_on_local_ray_reads_batches_from_shards(aws_session_env, ray_session, s3, tmp_path, capsys):
    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.normalizer import compute_mean_std
    from ds2ray.model.checkpoint import load_checkpoint
    from ds2ray.model.config import get_preset
    from ds2ray.testing.signals import speechlike, write_audio

    if not _workers_see(ray_session, aws_session_env):
        pytest.skip("Ray was started before the S3 test environment and ds2ray.train does not forward AWS_* "
                    "variables to its workers (RunConfig(worker_runtime_env=...)); run this file on its own")
    corpus = tmp_path / "corpus"
    lines = []
    for i in range(12):
        path = write_audio(corpus / f"u{i:02d}.wav", speechlike(0.6 + 0.05 * (i % 3), 16000, seed=i), 16000)
        lines.append(json.dumps({"audio_filepath": path.name, "duration": 0.6 + 0.05 * (i % 3),
                                 "text": WORDS[i % len(WORDS)]}))
    (corpus / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    dest = f"{s3.url}/train"
    assert main(["upload", "--manifest", str(corpus / "manifest.jsonl"), "--dest", dest, "--num-shards", "2"]) == 0
    shutil.rmtree(corpus)  # from here on the audio exists only inside the shards on S3

    cloud = f"{dest}/manifest.jsonl"
    stats = compute_mean_std(read_manifest(cloud).entries, get_preset("tiny").features, num_samples=0,
                             num_workers=1, progress=False)
    stats.save(tmp_path / "stats.npz")
    capsys.readouterr()
    argv = ["train", "--train-manifest", cloud, "--preset", "tiny", "--mean-std", str(tmp_path / "stats.npz"),
            "--num-workers", "1", "--loader-workers", "0", "--epochs", "1", "--max-steps", "3",
            "--batch-frames", "400", "--storage-path", str(tmp_path / "runs"), "--run-name", "shards",
            "--log-every-steps", "1", "--seed", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out[out.index("run shards: ") + len("run shards: "):].splitlines()[0])
    assert metrics["step"] == 3 and metrics.get("skipped", 0) == 0, metrics

    # --stream: the same cloud manifest read shard after shard (one GET per shard, not per member)
    assert main(argv[:-6] + ["--run-name", "streamed", "--log-every-steps", "1", "--seed", "0", "--stream",
                             "--batch-size", "2", "--shuffle-buffer", "4"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out[out.index("run streamed: ") + len("run streamed: "):].splitlines()[0])
    assert metrics["step"] == 3 and metrics.get("skipped", 0) == 0, metrics
    streamed = load_checkpoint(str(sorted((tmp_path / "runs" / "streamed").glob("checkpoint_e*"))[-1]))
    assert streamed.train_config["stream"] is True and streamed.train_config["batch_size"] == 2

    # evaluation reads the same cloud manifest by member (in this process: no Ray actors)
    checkpoint = sorted((tmp_path / "runs" / "shards").glob("checkpoint_e*"))[-1]  # names sort by step
    summary = tmp_path / "summary.json"
    assert main(["test", "--checkpoint", str(checkpoint), "--manifest", cloud, "--num-workers", "0",
                 "--out", str(tmp_path / "results.jsonl"), "--summary-json", str(summary), "--no-progress"]) == 0
    assert json.loads(summary.read_text())["utterances"] == 12
