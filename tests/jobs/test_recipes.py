"""Recipes: the same files everywhere, config.yaml = serialized dataclasses only, stages that skip
finished work and fail with one clear line, the FSDD speaker split on the real recordings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from ds2ray.pipeline.config import SECTIONS, RecipeConfig, plain
from jobs import data as data_stage
from jobs import infer as infer_stage
from jobs import test as test_stage
from jobs import train as train_stage

REPO = Path(__file__).resolve().parents[2]
RECIPES = ("tiny", "librispeech", "aishell", "voxforge", "an4", "fsdd", "english", "demo")
STAGES = ("prepare", "mean-std", "vocab", "lm", "train", "tune", "test", "infer")


def config(name: str) -> Path:
    return REPO / "jobs" / name / "config.yaml"


def test_every_recipe_has_the_same_file_names():
    names = {r: sorted(p.name for p in (REPO / "jobs" / r).iterdir() if p.name != "__pycache__") for r in RECIPES}
    assert all(files == ["config.yaml", "run.sh"] for files in names.values()), names


@pytest.mark.parametrize("name", RECIPES)
def test_config_yaml_is_serialized_dataclasses_only(name):
    raw = yaml.safe_load(config(name).read_text())
    recipe = RecipeConfig.load(config(name))
    assert recipe.name == name
    assert list(raw) == ["name", *SECTIONS]
    # every field of every dataclass is written, and nothing else: a full round trip
    assert plain(recipe.to_dict()) == raw


@pytest.mark.parametrize("name", RECIPES)
def test_config_names_a_real_builder_with_valid_options_and_a_valid_augmentation(name):
    from ds2ray.augment import AugmentPipeline
    from ds2ray.pipeline.data import corpus_options

    recipe = RecipeConfig.load(config(name))
    d = recipe.data
    corpus, options = corpus_options(d.corpus, d.options)  # ConfigError on a bad name or option
    assert corpus.name == d.corpus and set(d.options) <= set(options.to_dict())
    if recipe.train.augment_config:
        assert len(AugmentPipeline.from_config(recipe.train.augment_config).to_config()) >= 1
    assert recipe.test.error_rate_type == ("cer" if d.language == "zh" else "wer")
    assert recipe.features.num_features == recipe.model.num_features


def test_stage_modules_reject_a_bad_override_with_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        data_stage.main(["--config", str(config("tiny")), "--set", "train.num_worker=2"])
    assert exc.value.code == 2 and "no field 'num_worker'" in capsys.readouterr().err


def test_run_sh_lists_the_stages_and_rejects_unknown_options():
    helped = subprocess.run(["bash", str(REPO / "jobs" / "fsdd" / "run.sh"), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0
    for i, stage in enumerate(STAGES):
        assert f"stage {i}  {stage}" in helped.stdout
    bad = subprocess.run(["bash", str(REPO / "jobs" / "fsdd" / "run.sh"), "--stage", "9"], capture_output=True, text=True)
    assert bad.returncode == 2 and "0..7" in bad.stderr


# --------------------------------------------------------------------------- stages on real speech


@pytest.fixture(scope="module")
def fsdd_exp(shared_data, tmp_path_factory):
    exp = tmp_path_factory.mktemp("exp_fsdd")
    args = ["--config", str(config("fsdd")), "--exp-dir", str(exp), "--set", "data.mean_std_samples=20"]
    assert data_stage.main([*args, "--data", str(shared_data / "fsdd"), "--step", "prepare,mean-std,vocab"]) == 0
    return exp, args


def test_fsdd_split_holds_out_one_speaker(fsdd_exp):
    from ds2ray.data.manifest import read_manifest

    exp, _ = fsdd_exp
    split = {s: list(read_manifest(str(exp / "data" / f"manifest.{s}.jsonl"))) for s in ("train", "dev", "test")}
    assert {e.speaker for e in split["test"]} == {"theo"} and len(split["test"]) == 500
    seen = {e.speaker for e in split["train"]} | {e.speaker for e in split["dev"]}
    assert seen == {"george", "jackson", "lucas", "nicolas", "yweweler"}
    assert len(split["train"]) + len(split["dev"]) == 2500 and len(split["dev"]) == 250
    assert {e.audio_filepath for e in split["train"]}.isdisjoint(e.audio_filepath for e in split["dev"])
    assert {e.text for e in split["test"]} == {"zero", "one", "two", "three", "four", "five", "six", "seven",
                                               "eight", "nine"}
    assert all(Path(e.audio_filepath).is_file() for e in split["test"][:5])


def test_data_steps_skip_finished_work(fsdd_exp, capsys):
    from ds2ray.data.vocab import Vocabulary

    exp, args = fsdd_exp
    # one word per recording: the letters of zero..nine and nothing else (not even a space)
    assert set(Vocabulary.load(exp / "vocab.json").chars) == set("zeroonetwothreefourfivesixseveneightnine")
    before = {p: p.stat().st_mtime_ns for p in (exp / "vocab.json", exp / "mean_std.npz",
                                                exp / "data" / "manifest.train.jsonl")}
    capsys.readouterr()
    assert data_stage.main([*args, "--step", "prepare,mean-std,vocab"]) == 0
    out = capsys.readouterr().out
    assert "manifests exist" in out and "exists (20 utterances)" in out and "exists (16 classes)" in out
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())


def test_run_goes_through_a_stage_range_in_order(fsdd_exp, capsys):
    from jobs import run

    exp, args = fsdd_exp
    assert run.main([*args, "--stage", "1", "--stop-stage", "2"]) == 0
    out = capsys.readouterr().out
    assert out.index("fsdd stage 1: mean-std") < out.index("== stage mean-std done") < out.index("fsdd stage 2: vocab")
    assert "stage 0" not in out and "stage 3" not in out and "exists (16 classes)" in out
    with pytest.raises(SystemExit) as exc:
        run.main([*args, "--stage", "8"])
    assert exc.value.code == 2


def test_train_stage_names_the_missing_input(tmp_path, capsys):
    code = train_stage.main(["--config", str(config("tiny")), "--exp-dir", str(tmp_path)])
    assert code == 2
    assert "vocab.json not found" in capsys.readouterr().err


def test_test_and_infer_stages_score_the_recorded_checkpoint(fsdd_exp, tmp_path, capsys):
    """An untrained tiny checkpoint stands in for training: the stage logic is what is tested."""
    from ds2ray.testing.checkpoints import make_untrained_checkpoint

    exp, args = fsdd_exp
    args = [*args, "--set", "test.decoders=[greedy, beam]", "--set", "test.infer_samples=2"]
    assert test_stage.main(args) == 2
    assert "run the train stage first" in capsys.readouterr().err
    ckpt = make_untrained_checkpoint(str(tmp_path / "ckpt"))
    (exp / "train.json").write_text(json.dumps({"checkpoint": ckpt}))
    assert test_stage.main(args) == 0
    out = capsys.readouterr().out
    assert "beam: skipped (no language model" in out  # the lm step did not run
    summary = json.loads((exp / "test" / "summary.json").read_text())
    assert summary["checkpoint"] == ckpt and list(summary["results"]) == ["greedy"]
    greedy = summary["results"]["greedy"]
    assert greedy["utterances"] == 500 and greedy["error_rate_type"] == "wer" and greedy["wer"] >= 0.0
    rows = (exp / "test" / "greedy.jsonl").read_text().splitlines()
    assert len(rows) == 500 and json.loads(rows[0])["ref"] in {"zero", "one", "two", "three", "four", "five",
                                                               "six", "seven", "eight", "nine"}
    assert test_stage.main(args) == 0  # totals exist: not scored again
    assert "-- greedy: scoring" not in capsys.readouterr().out
    assert infer_stage.main(args) == 0
    assert capsys.readouterr().out.count("Target Transcription:") == 2
