"""Ray Train end to end on the session's local 2-CPU Ray, with 2 DDP workers.

One run story (each Ray Train start costs ~20 s here, so the phases share runs):
1. rank 1 raises at step 5; FailureConfig(max_failures=1) restarts the group from the step-4
   checkpoint; the run then stops at --max-steps 8;
2. the same command again (same run name and storage) resumes at step 9 and finishes.
The steps log must hold every step exactly once. The run keeps its lowest-dev-CER checkpoint and
averages its last three; the selection step ranks them on the same dev utterances.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from ds2ray.inference.model import load_acoustic_model
from ds2ray.model.checkpoint import load_checkpoint
from ds2ray.train.loop import TrainData
from ds2ray.train.select import dev_entries, select_checkpoint
from ds2ray.train.trainer import run_train

pytestmark = pytest.mark.slow


def steps_csv(job) -> list[dict[str, str]]:
    with open(Path(job.train.storage_path) / job.train.run_name / "logs" / "steps.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def planned_steps(job, world_size: int) -> int:
    data = TrainData(job, 0, world_size)
    return sum(len(data.batches(e)) for e in range(job.train.epochs))


def test_ddp_crash_restart_stop_and_resume(ray_session, make_job, tmp_path):
    marker = tmp_path / "failed.txt"
    common = dict(num_workers=2, run_name="ddp", epochs=2, batch_frames=300, checkpoint_every_steps=2,
                  max_failures=1, keep_checkpoints=3, average_last=3)
    first = make_job(max_steps=8, fail_at_step=5, fail_rank=1, fail_marker=str(marker), **common)
    total = planned_steps(first, 2)
    assert planned_steps(first, 1) >= 2 * total - 1  # each rank takes half the batches
    assert total > 9

    result = run_train(first)
    assert marker.exists()  # rank 1 did raise at step 5
    assert result.error is None and result.metrics["step"] == 8
    assert result.metrics["stopped"] == "max_steps 8 reached"
    assert [int(r["step"]) for r in steps_csv(first)] == list(range(1, 9))  # steps 5-8 once, not twice

    second = make_job(pin_cpus=True, **common)  # pinning changes where the ranks run, not what they compute
    result = run_train(second)  # same run name and storage: resumes at step 9
    assert result.error is None and result.metrics["step"] == total and result.metrics["epoch"] == 2
    rows = steps_csv(second)
    assert [int(r["step"]) for r in rows] == list(range(1, total + 1))
    phases = [float(rows[-1][f"{p}_s"]) for p in ("data", "forward", "backward", "sync", "optimizer", "report")]
    assert all(t >= 0 for t in phases) and phases[1] > 0 and phases[2] > 0  # where each step's time went
    assert (Path(result.run_dir) / "curves.png").stat().st_size > 10_000  # the training curves PNG
    data = TrainData(second, 0, 2)
    plan = [(e, b + 1) for e in range(2) for b in range(len(data.batches(e)))]
    assert [(int(r["epoch"]), int(r["batch"])) for r in rows] == plan  # the data plan, without gaps or repeats
    ckpt = load_checkpoint(result.checkpoint, with_train_state=True)
    assert ckpt.train_state["state"]["global_step"] == total
    assert 0.0 <= result.metrics["dev_cer"] <= 2.0
    am = load_acoustic_model(result.checkpoint)  # the run's checkpoint is all inference needs
    assert am.vocab.size == 29 and am.normalizer is not None

    # <run>/best: the epoch report with the lowest dev CER (over both runs: the state carries it on)
    with open(Path(result.run_dir) / "logs" / "epochs.csv", newline="") as fh:
        epochs = [r for r in csv.DictReader(fh) if r.get("dev_cer")]
    lowest = min(epochs, key=lambda r: float(r["dev_cer"]))
    best = load_checkpoint(result.best)
    assert result.best == str(Path(result.run_dir) / "best")
    assert best.metrics["step"] == int(float(lowest["step"]))
    assert best.metrics["dev_cer"] == pytest.approx(float(lowest["dev_cer"]), abs=1e-4)
    assert ckpt.train_state["state"]["best_dev_cer"] == pytest.approx(float(lowest["dev_cer"]), abs=1e-4)
    # <run>/averaged: the mean of the three newest kept checkpoints, the last among them
    averaged = load_checkpoint(result.averaged)
    assert len(averaged.metrics["averaged_steps"]) == 3 and averaged.metrics["averaged_steps"][-1] == total
    assert averaged.metrics["step"] == total
    sources = [load_checkpoint(p).model_state for p in averaged.metrics["averaged_from"]]
    key = next(k for k, v in averaged.model_state.items() if v.is_floating_point() and v.dim() == 2)
    mean = sum(s[key].double() for s in sources) / 3
    assert torch.allclose(averaged.model_state[key].double(), mean, atol=1e-6)
    assert not torch.equal(averaged.model_state[key], sources[-1][key])

    chosen = select_checkpoint({"last": result.checkpoint, "best": result.best, "averaged": result.averaged},
                               dev_entries(second.train.dev_manifests))
    assert set(chosen.scores) == {"last", "best", "averaged"}
    assert chosen.scores[chosen.name]["dev_cer"] == min(s["dev_cer"] for s in chosen.scores.values())
    assert chosen.checkpoint == {"last": result.checkpoint, "best": result.best, "averaged": result.averaged}[chosen.name]
