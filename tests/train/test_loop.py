"""The training loop in one plain process (LocalSession): corrupt audio, stop and resume, schedules."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ds2ray.train.config import TrainConfig
from ds2ray.train.loop import TrainData, run_training
from ds2ray.train.schedule import learning_rate, progress
from ds2ray.train.session import LocalSession


def read_csv(path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_corrupt_file_is_skipped_and_counted(make_job, tiny_corpus, tmp_path):
    job = make_job(train_manifests=(tiny_corpus["corrupt"],), epochs=2, run_name="corrupt")
    planned = sum(len(TrainData(job, 0, 1).batches(e)) for e in range(2))
    metrics = run_training(job, LocalSession(str(tmp_path / "ckpts")))
    assert metrics["skipped"] == 1  # per epoch: the one unreadable file
    epochs = read_csv(Path(job.train.storage_path) / "corrupt" / "logs" / "epochs.csv")
    assert [float(r["skipped"]) for r in epochs] == [1.0, 1.0]
    assert int(epochs[-1]["step"]) == planned  # the run went on to the end
    assert math.isfinite(float(epochs[-1]["train_loss"]))


def test_resume_after_stop_continues_at_the_next_step(make_job, tmp_path):
    ckpts = str(tmp_path / "ckpts")
    first = run_training(make_job(max_steps=3, run_name="resume"), LocalSession(ckpts))
    assert first["stopped"] == "max_steps 3 reached"
    job = make_job(max_steps=7, run_name="resume")
    session = LocalSession(ckpts)
    run_training(job, session)
    rows = read_csv(Path(job.train.storage_path) / "resume" / "logs" / "steps.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 8))  # no step lost, none twice
    # the (epoch, batch) visited at each step follows the deterministic plan across the restart
    data = TrainData(job, 0, 1)
    plan = [(e, b + 1) for e in range(job.train.epochs) for b in range(len(data.batches(e)))][:7]
    assert [(int(r["epoch"]), int(r["batch"])) for r in rows] == plan
    restored = session.restore()
    assert restored.train_state["state"]["global_step"] == 7
    assert restored.train_state["optimizer"]["state"]  # Adam moments travel with the checkpoint


def test_cosine_schedule_follows_steps_or_time_budget():
    cfg = TrainConfig(lr=1e-3, warmup_fraction=0.1, min_lr_ratio=0.0)
    assert learning_rate(cfg, 0.05, 0) == pytest.approx(5e-4)
    assert learning_rate(cfg, 0.1, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 0.55, 0) == pytest.approx(5e-4)
    assert learning_rate(cfg, 1.0, 0) == pytest.approx(0.0, abs=1e-12)
    assert progress(10, 100, elapsed_s=30, max_minutes=1) == 0.5  # the time budget dominates
    assert progress(60, 100, elapsed_s=30, max_minutes=0) == 0.6
    seed_like = TrainConfig(lr=1e-3, lr_schedule="exponential", warmup_fraction=0.0)
    assert learning_rate(seed_like, 0.5, 3) == pytest.approx(1e-3 * 0.83 ** 3)


def test_augmentation_runs_in_the_dataset_reproducibly(make_job, tmp_path):
    import json

    import torch

    config = tmp_path / "augment.json"
    config.write_text(json.dumps([
        {"type": "speed", "params": {"min_speed_rate": 0.8, "max_speed_rate": 0.9}, "prob": 1.0},
        {"type": "specaugment", "params": {"F": 8, "n_freq_masks": 2, "T": 10, "n_time_masks": 2}, "prob": 1.0}]))
    plain = TrainData(make_job(), 0, 1).train_set
    augmented = TrainData(make_job(augment_config=str(config)), 0, 1).train_set
    augmented.epoch = 3
    a, b, ref = augmented[0], augmented[0], plain[0]
    assert torch.equal(a.features, b.features)  # seeded by (seed, epoch, index)
    assert a.features.shape[0] > ref.features.shape[0]  # slowed down: more frames
    augmented.epoch = 4
    assert not torch.equal(augmented[0].features, a.features)  # a new epoch draws anew


def test_train_command_maps_flags_to_configs(tmp_path):
    from ds2ray.cli import build_parser
    from ds2ray.commands.train import model_and_features, train_config_from_args

    args = build_parser().parse_args([
        "train", "--train-manifest", "a.jsonl", "--train-manifest", "b.jsonl", "--dev-manifest", "d.jsonl",
        "--preset", "seed", "--num-workers", "2", "--cpus-per-worker", "3", "--max-minutes", "15",
        "--lr-schedule", "exponential", "--checkpoint-every-steps", "50", "--keep-checkpoints", "2",
        "--max-failures", "2", "--run-name", "r", "--storage-path", "s3://b/runs", "--no-sortagrad",
        "--pin-cpus", "--precision", "fp32"])
    cfg = train_config_from_args(args)
    assert cfg.train_manifests == ("a.jsonl", "b.jsonl") and cfg.dev_manifests == ("d.jsonl",)
    assert (cfg.num_workers, cfg.cpus_per_worker, cfg.max_minutes) == (2, 3, 15.0)
    assert (cfg.lr_schedule, cfg.checkpoint_every_steps, cfg.keep_checkpoints, cfg.max_failures) == ("exponential", 50, 2, 2)
    assert cfg.storage_path == "s3://b/runs" and not cfg.sortagrad and cfg.pin_cpus
    assert cfg.precision == "fp32"
    _, model, features = model_and_features(args)
    assert model.rnn_hidden == 2048 and features.kind == "linear"
    args = build_parser().parse_args(["train", "--train-manifest", "a", "--init-from", "x", "--preset", "demo"])
    with pytest.raises(ValueError, match="--init-from"):
        model_and_features(args)
