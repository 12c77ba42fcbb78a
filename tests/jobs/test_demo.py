"""``make demo`` is the ``jobs/demo`` recipe: its config holds the demo's settings, and the flags of
``python -m jobs.demo`` become overrides of it (the stages themselves run in
tests/pipeline/test_end_to_end.py on the tiny recipe)."""

from __future__ import annotations

import pytest

from ds2ray.model.config import get_preset
from jobs import demo


def load(*argv: str):
    return demo.load_demo(demo.build_parser().parse_args(list(argv)))


def test_the_demo_recipe_holds_the_demo_settings():
    recipe = load()
    assert recipe.name == "demo" and recipe.data.corpus == "synth"
    assert recipe.data.options == {"engines": "espeak", "hours": 2.0, "heldout_timbres": 3, "dev_fraction": 0.05,
                                   "test_fraction": 0.05, "seed": 0, "num_workers": 2}
    preset = get_preset("demo")
    assert recipe.model == preset.model and recipe.features == preset.features.replace(kind="fbank")
    t = recipe.train
    assert (t.num_workers, t.cpus_per_worker, t.batch_frames, t.epochs, t.max_minutes, t.lr, t.seed) == \
        (2, 1, 2000, 100, 9.0, 2e-3, 0)
    assert t.augment_config == demo.VTLP_AUGMENT and t.run_name == "demo" and t.log_every_steps == 20
    assert (recipe.lm.order, recipe.lm.binary, recipe.lm.splits) == (3, True, ("train",))
    g = recipe.tune
    assert (g.alpha_from, g.alpha_to, g.num_alphas, g.beta_from, g.beta_to, g.num_betas) == (0.3, 1.5, 4, 0.0, 2.0, 3)
    assert recipe.decoder.beam_width == 64 and recipe.data.mean_std_samples == 500
    assert recipe.test.decoders == ("greedy", "beam") and recipe.test.num_workers == 2
    assert recipe.test.infer_samples == 3


def test_flags_become_overrides():
    quick = load("--quick", "--seed", "3", "--feature", "mfcc", "--augment", "none", "--batch-frames", "1000",
                 "--num-workers", "1", "--train-minutes", "5")
    tiny = get_preset("tiny")
    assert quick.model == tiny.model and quick.features == tiny.features.replace(kind="mfcc")
    assert quick.data.options == {"engines": "espeak", "hours": None, "num_utterances": 60, "heldout_timbres": 2,
                                  "dev_fraction": 0.1, "test_fraction": 0.1, "seed": 3, "num_workers": 2}
    t = quick.train
    assert (t.max_minutes, t.seed, t.augment_config, t.batch_frames, t.num_workers) == (0.5, 3, None, 1000, 1)
    full = load("--hours", "0.5", "--train-minutes", "5", "--augment", "speed", "--set", "tune.num_alphas=2")
    assert full.data.options["hours"] == 0.5 and full.train.max_minutes == 5.0
    assert full.train.augment_config == demo.SPEED_AUGMENT and full.tune.num_alphas == 2


def test_unknown_stages_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(["--stages", "data,bogus"])
    assert exc.value.code == 2 and "unknown stage(s) ['bogus']" in capsys.readouterr().err
