"""The tiny recipe through every stage, icefall ``yesno`` style: prepare -> mean-std -> vocab -> lm ->
train (Ray, 2 workers) -> tune -> test -> infer, then one HTTP request to Ray Serve. Each stage's
output must exist and agree with the others, and training must have lowered the loss."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from ds2ray.pipeline.config import RecipeConfig
from ds2ray.pipeline.experiment import Experiment
from ds2ray.pipeline.runner import STAGES, run_stages

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "tiny" / "config.yaml"
#: what the whole run may take on an idle 2-core machine; a busy one gets more in proportion to its
#: load average per core (other jobs sharing the cores slow every stage down about that much)
IDLE_BUDGET_S = 90.0

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make setup)")


@pytest.fixture(scope="module")
def tiny_run(ray_session, kenlm_ready, tmp_path_factory):
    recipe = RecipeConfig.load(TINY, ["train.num_workers=2"])
    exp = Experiment.create(tmp_path_factory.mktemp("e2e") / "exp", recipe, base=REPO)
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    t0 = time.monotonic()
    runs = run_stages(exp, list(STAGES))
    served = None
    if all(r.ok for r in runs):
        from serve.app import run_in_process
        from serve.client import transcribe_file

        from ds2ray.data.manifest import read_manifest

        entry = read_manifest(str(exp.manifest("test")))[0]
        server = run_in_process(exp.checkpoint(), port=0, num_cpus=1, front_num_cpus=0.25, batch_wait_s=0.02)
        try:
            served = transcribe_file(entry.audio_filepath, server.url)
        finally:
            server.stop()
    load = max(load, os.getloadavg()[0] / (os.cpu_count() or 1))
    return exp, runs, served, (time.monotonic() - t0, IDLE_BUDGET_S * max(1.0, load))


def test_every_stage_ran_within_the_budget(tiny_run):
    exp, runs, _, (seconds, budget) = tiny_run
    assert [r.name for r in runs] == list(STAGES)
    failed = [(r.name, r.summary) for r in runs if not r.ok]
    assert not failed, failed
    print("stage seconds: " + ", ".join(f"{r.name} {r.seconds:.1f}" for r in runs) + f"; total {seconds:.1f}")
    assert seconds < budget


def test_training_lowered_the_loss(tiny_run):
    exp, runs, _, _ = tiny_run
    done = json.loads(exp.train_json.read_text())
    assert done["num_workers"] == 2
    with open(Path(done["run_dir"]) / "logs" / "epochs.csv", newline="") as fh:
        epochs = list(csv.DictReader(fh))
    assert len(epochs) == exp.recipe.train.epochs == 2
    for loss in ("train_loss", "dev_loss"):
        assert float(epochs[-1][loss]) < float(epochs[0][loss]), (loss, epochs)


def test_stage_outputs_agree(tiny_run):
    from ds2ray.data.normalizer import NormalizerStats
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.model.checkpoint import load_checkpoint

    exp, _, _, _ = tiny_run
    for split in ("train", "dev", "test"):
        assert exp.manifest(split).read_text().strip()
    vocab = Vocabulary.load(exp.vocab)
    ckpt = load_checkpoint(exp.checkpoint())
    assert ckpt.vocab.size == vocab.size == ckpt.model_config.num_classes
    assert NormalizerStats.load(exp.mean_std).feature_config == exp.recipe.features == ckpt.feature_config
    assert exp.lm is not None and exp.lm.is_file()
    best = json.loads(exp.best_json.read_text())
    grid = exp.recipe.tune
    assert grid.alpha_from <= best["alpha"] <= grid.alpha_to and grid.beta_from <= best["beta"] <= grid.beta_to
    summary = json.loads((exp.test_dir / "summary.json").read_text())
    assert summary["checkpoint"] == exp.checkpoint() and list(summary["results"]) == ["greedy", "beam"]
    test_utterances = len(exp.manifest("test").read_text().splitlines())
    for decoder, result in summary["results"].items():
        assert 0.0 <= result["wer"] and result["utterances"] == test_utterances, decoder
        assert (exp.test_dir / f"{decoder}.jsonl").is_file()
    beam = json.loads((exp.test_dir / "beam.json").read_text())
    assert beam["decoder"]["params"]["alpha"] == best["alpha"] and beam["decoder"]["params"]["beta"] == best["beta"]


def test_serve_answers_with_text(tiny_run):
    _, _, served, _ = tiny_run
    assert served is not None and isinstance(served["text"], str)


def test_a_rerun_skips_every_finished_stage(tiny_run, capsys):
    exp, _, _, _ = tiny_run
    runs = run_stages(exp, [s for s in STAGES if s != "infer"])
    assert all(r.ok for r in runs)
    skipped = [r.name for r in runs if r.skipped]
    assert skipped == ["prepare", "mean-std", "vocab", "lm", "train", "tune"], [r.summary for r in runs]
    assert "-- greedy: scoring" not in capsys.readouterr().out  # the test totals exist too
