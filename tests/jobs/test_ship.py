"""jobs.ship on a tiny experiment: it ships a first model, refuses one that is not better, and adds up
the training hours of a run that continued the shipped model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from jobs import ship as ship_stage
from ds2ray.pipeline.config import RecipeConfig
from ds2ray.pipeline.experiment import Experiment
from jobs.recipe import REPO

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _manifest(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def experiment(overfit_model, tmp_path, kenlm_ready) -> tuple[Experiment, Path]:
    """An english experiment folder as the earlier stages leave it, with the session's overfit model
    (tests/conftest.py, trained once for tests/serve, tests/pretrained and here) as its training
    result, and a shared-data folder whose pocketsphinx set is the same three clips."""
    from ds2ray.lm.build import LMBuildConfig, build_lm
    from ds2ray.testing.overfit import SAMPLE_RATE

    overfit = overfit_model
    root, shared = tmp_path / "exp", tmp_path / "shared"
    rows = []
    for i, (text, wave) in enumerate(zip(overfit.texts, overfit.waves)):
        wav = shared / "pocketsphinx" / f"{i}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, wave, SAMPLE_RATE)
        rows.append({"audio_filepath": str(wav), "duration": len(wave) / SAMPLE_RATE, "text": text})
    _manifest(root / "data" / "manifest.dev.jsonl", rows)
    _manifest(shared / "pocketsphinx" / "manifest.jsonl", [{**r, "audio_filepath": Path(r["audio_filepath"]).name}
                                                          for r in rows])
    (root / "data" / "english.json").write_text(json.dumps({
        "splits": {"train": {"speechocean762": {"utterances": 3, "hours": 0.5}, "synth": {"utterances": 9, "hours": 1.0}}},
        "synth": {"engines": {"espeak": {"utterances": 9, "hours": 1.0}}}}))
    corpus = tmp_path / "lm.txt"
    corpus.write_text("\n".join(overfit.texts * 3) + "\n")
    build_lm(corpus, root / "lm" / "lm.bin", LMBuildConfig(order=2, memory="64M", binary_type="trie"))
    (root / "tune").mkdir()
    (root / "tune" / "best.json").write_text(json.dumps({"alpha": 0.5, "beta": 1.0, "wer": 0.0}))
    run = root / "runs" / "english"
    (run / "logs").mkdir(parents=True)
    with open(run / "logs" / "steps.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["step", "elapsed_s", "window_audio_s"])
        writer.writeheader()
        writer.writerows([{"step": 50, "elapsed_s": 900.0, "window_audio_s": 1800.0},
                          {"step": 100, "elapsed_s": 1800.0, "window_audio_s": 1800.0}])
    (root / "train.json").write_text(json.dumps({"checkpoint": overfit.checkpoint, "run_dir": str(run)}))
    recipe = RecipeConfig.load(REPO / "jobs" / "english" / "config.yaml",
                               ["decoder.beam_width=8", "train.init_from=null"])
    return Experiment(root, recipe), shared


def test_ships_once_refuses_no_better_and_adds_up_hours(experiment, tmp_path):
    exp, shared = experiment
    store = tmp_path / "store"
    kwargs = dict(out_root=store, measure_sets=("pocketsphinx",))

    said = ship_stage.ship(exp, "en", 0, False, str(shared), **kwargs)
    assert said.startswith(f"shipped to {store / 'en'}") and "was none shipped" in said
    card = json.loads((store / "en" / "card.json").read_text())
    assert card["training"]["steps"] == 100
    assert card["training"]["cpu_hours"] == pytest.approx(1800 * 2 / 3600)  # 2 workers x 1 CPU
    assert card["training"]["audio_hours_seen"] == pytest.approx(1.0)
    assert card["results"]["pocketsphinx"]["greedy"]["wer"] == 0.0  # the overfit model knows these clips
    assert {d["source"] for d in card["data"]} == {"speechocean762 (weighted twice)", "synthetic: espeak"}
    assert (store / "en" / "MODEL.md").read_text().count("speechocean762") >= 1
    assert json.loads((exp.root / "ship.json").read_text())["shipped"] is True

    said = ship_stage.ship(exp, "en", 0, False, str(shared), **kwargs)  # the same model: not better
    assert said.startswith("not shipped")
    assert json.loads((exp.root / "ship.json").read_text())["shipped"] is False

    continued = Experiment(exp.root, RecipeConfig.load(
        REPO / "jobs" / "english" / "config.yaml", ["decoder.beam_width=8", f"train.init_from={store / 'en'}"]))
    ship_stage.ship(continued, "en", 0, True, str(shared), **kwargs)  # forced; the run started from en
    card = json.loads((store / "en" / "card.json").read_text())
    assert card["training"]["steps"] == 200 and len(card["training"]["runs"]) == 2
    assert card["training"]["audio_hours_seen"] == pytest.approx(2.0)


def test_a_selected_earlier_checkpoint_counts_only_the_steps_behind_it(experiment, tmp_path):
    from ds2ray.model.checkpoint import load_checkpoint, save_checkpoint
    from ds2ray.model.deepspeech2 import DeepSpeech2

    exp, shared = experiment
    trained = load_checkpoint(exp.checkpoint())
    model = DeepSpeech2(trained.model_config)
    model.load_state_dict(trained.model_state)
    best = tmp_path / "best"  # the run's lowest-dev-CER checkpoint, from step 50 of its 100
    save_checkpoint(str(best), model, model_config=trained.model_config, feature_config=trained.feature_config,
                    vocab=trained.vocab, normalizer=trained.normalizer, metrics={"step": 50})
    info = json.loads(exp.train_json.read_text())
    exp.train_json.write_text(json.dumps({**info, "checkpoint": str(best), "selected": "best"}))
    ship_stage.ship(exp, "en", 0, True, str(shared), out_root=tmp_path / "store", measure_sets=("pocketsphinx",))
    training = json.loads((tmp_path / "store" / "en" / "card.json").read_text())["training"]
    assert training["steps"] == 50 and training["cpu_hours"] == pytest.approx(900 * 2 / 3600)
    assert training["audio_hours_seen"] == pytest.approx(0.5)
    assert training["runs"][-1]["checkpoint"] == "best"


def test_missing_inputs_are_named(tmp_path):
    recipe = RecipeConfig.load(REPO / "jobs" / "english" / "config.yaml")
    with pytest.raises(FileNotFoundError, match="train stage"):
        ship_stage.ship(Experiment(tmp_path, recipe), "en", 10, False, str(tmp_path), out_root=tmp_path / "store")
