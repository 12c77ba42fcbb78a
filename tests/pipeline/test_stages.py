"""The library stage functions called directly: one skip rule, atomic writes, the prepare stage
against a corpus's typed options (a fake corpus here), the data stages on written WAV files, and
the runner's logging and stop-at-the-first-failure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ds2ray.config import ConfigBase, ConfigError
from ds2ray.pipeline import data as data_stages
from ds2ray.pipeline.config import RecipeConfig
from ds2ray.pipeline.experiment import Experiment, StageResult, atomic_path, is_done, write_json
from ds2ray.pipeline.runner import STAGES, run_stages, select

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "tiny" / "config.yaml"


@dataclass(frozen=True)
class ToneOptions(ConfigBase):
    utterances: int = 4

    def __post_init__(self) -> None:
        if self.utterances < 1:
            raise ConfigError(f"ToneOptions.utterances must be >= 1, got {self.utterances}")


def prepare_tones(out_dir: Path, source: Path | None, options: ToneOptions, *, overwrite: bool = False) -> dict:
    """A corpus of speech-like noise: every split gets ``utterances`` WAVs and the same sentences."""
    from ds2ray.data.manifest import ManifestEntry, write_manifest
    from ds2ray.testing.signals import speechlike, write_audio

    calls.append((out_dir, source, options, overwrite))
    out = {}
    for split in ("train", "dev", "test"):
        entries = []
        for i in range(options.utterances):
            path = write_audio(out_dir / "wav" / f"{split}{i}.wav", speechlike(0.5 + 0.1 * i, seed=i))
            entries.append(ManifestEntry(str(path), 0.5 + 0.1 * i, ["a cat sat", "the dog ran"][i % 2]))
        out[split] = out_dir / f"manifest.{split}.jsonl"
        write_manifest(out[split], entries)
    return out


calls: list = []


@pytest.fixture
def tones(monkeypatch):
    from ds2ray.data import corpora

    fake = corpora.Corpus("tones", "speech-like noise", ToneOptions, prepare_tones)
    real = corpora.get_corpus
    monkeypatch.setattr(corpora, "get_corpus", lambda name: fake if name == "tones" else real(name))
    calls.clear()
    return fake


def experiment(tmp_path: Path, *overrides: str) -> Experiment:
    recipe = RecipeConfig.load(TINY, ["data.corpus=tones", "data.options={utterances: 3}",
                                      "data.mean_std_samples=3", *overrides])
    return Experiment.create(tmp_path / "exp", recipe, base=tmp_path)


def test_skip_rule_and_atomic_writes(tmp_path):
    out = tmp_path / "a" / "out.json"
    assert not is_done(out)
    write_json(out, {"x": (1, 2)})
    assert json.loads(out.read_text()) == {"x": [1, 2]} and is_done(out) and not is_done(out, force=True)
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "half.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("died")
    assert list(tmp_path.glob("half.txt*")) == []  # neither the output nor its temp name is left


def test_experiment_paths_resolve_against_the_base(tmp_path):
    exp = experiment(tmp_path, "lm.binary=true", "train.storage_path=s3://b/runs")
    assert exp.manifest("dev") == exp.root / "data" / "manifest.dev.jsonl"
    assert exp.lm == exp.root / "lm" / "lm.bin" and exp.storage_path == "s3://b/runs"
    assert exp.resolve("texts/a.txt") == str(tmp_path / "texts" / "a.txt")
    assert exp.resolve("{exp}/data/t.txt") == str(exp.root / "data" / "t.txt")
    assert experiment(tmp_path, "lm.order=0").lm is None
    with pytest.raises(FileNotFoundError, match="run the train stage first"):
        exp.checkpoint()


def test_prepare_validates_options_builds_once_and_redoes_on_change(tmp_path, tones):
    bad = experiment(tmp_path, "data.options={utterances: 0}")
    with pytest.raises(ConfigError, match=r"data.options \(corpus 'tones'\).*utterances must be >= 1"):
        data_stages.prepare(bad)
    exp = experiment(tmp_path)
    first = data_stages.prepare(exp, source="src")
    assert not first.skipped and "train 3 utt" in first.summary
    assert calls[-1][1] == Path("src") and calls[-1][2] == ToneOptions(3) and calls[-1][3] is False
    again = data_stages.prepare(exp)
    assert again.skipped and again.summary.startswith("manifests exist") and len(calls) == 1
    data_stages.prepare(experiment(tmp_path, "data.options={utterances: 2}"))  # other settings: built again
    assert len(calls) == 2 and len(exp.manifest("train").read_text().splitlines()) == 2
    data_stages.prepare(exp, force=True)
    assert len(calls) == 3 and calls[-1][3] is True
    missing = experiment(tmp_path, "data.test=[test, other]")
    with pytest.raises(RuntimeError, match=r"no manifest for split\(s\) \['other'\]"):
        data_stages.prepare(missing, force=True)


def test_mean_std_vocab_and_lm_skip_finished_work(tmp_path, tones, kenlm_ready):
    exp = experiment(tmp_path)
    data_stages.prepare(exp)
    made = [data_stages.mean_std(exp), data_stages.vocab(exp), data_stages.lm(exp)]
    assert not any(r.skipped for r in made)
    assert exp.mean_std.is_file() and exp.vocab.is_file() and exp.lm is not None and exp.lm.is_file()
    again = [data_stages.mean_std(exp), data_stages.vocab(exp), data_stages.lm(exp)]
    assert all(r.skipped for r in again)
    assert again[0].summary == "exists (3 utterances)" and again[2].summary.startswith("exists")
    assert not data_stages.vocab(exp, force=True).skipped
    no_lm = data_stages.lm(experiment(tmp_path, "lm.order=0"))
    assert no_lm.skipped and "lm.order is 0" in no_lm.summary


def test_stages_name_their_missing_inputs(tmp_path):
    from ds2ray.pipeline import test as test_stage
    from ds2ray.pipeline.train import train

    exp = experiment(tmp_path)
    with pytest.raises(FileNotFoundError, match="run the prepare stage first"):
        data_stages.vocab(exp)
    with pytest.raises(FileNotFoundError, match="vocab.json not found: run the vocab stage first"):
        train(exp)
    with pytest.raises(FileNotFoundError, match="run the train stage first"):
        test_stage.test(exp)


def test_runner_logs_each_stage_and_stops_at_the_first_failure(tmp_path, tones, capsys):
    assert select() == list(STAGES) and select(1, 3) == ["mean-std", "vocab", "lm"]
    assert select("vocab", "vocab") == ["vocab"]
    with pytest.raises(ValueError, match="0..7"):
        select(0, 9)
    exp = experiment(tmp_path)
    runs = run_stages(exp, ["prepare", "vocab", "extra", "train", "tune"],
                      extra={"extra": lambda e: StageResult("did extra")})
    out, err = capsys.readouterr()
    assert [(r.name, r.ok) for r in runs] == [("prepare", True), ("vocab", True), ("extra", True), ("train", False)]
    assert "== stage vocab\n" in out and "== stage extra done in" in out and ": did extra" in out
    assert "== stage train failed: " in err and "mean_std.npz not found" in err
