"""The main job on its embedded default (``make demo``): a synthetic corpus, prepared end to end.

Stages run in order and each skips work a previous run finished:

1. ``data``     synthesize a corpus with espeak-ng voices (test voices never heard in training)
2. ``mean-std`` feature normalisation statistics
3. ``vocab``    the character vocabulary

Run ``python -m jobs.demo --help``; works the same under ``ray job submit -- python -m jobs.demo``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger("ds2ray.demo")


@dataclass(frozen=True)
class DemoConfig:
    out_dir: Path
    hours: float = 1.0
    engines: str = "espeak"
    feature: str = "fbank"
    seed: int = 0
    quick: bool = False  # a tiny corpus for smoke tests

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
    from ds2ray.data.features import FeatureConfig
    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.normalizer import NormalizerStats, compute_mean_std

    feature_config = FeatureConfig(kind=cfg.feature)
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


STAGES: dict[str, Callable[[DemoConfig], str]] = {
    "data": stage_data,
    "mean-std": stage_mean_std,
    "vocab": stage_vocab,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default="demo_out", help="where everything goes (default: demo_out/)")
    p.add_argument("--hours", type=float, default=1.0, help="hours of synthetic speech")
    p.add_argument("--engines", default="espeak", help="TTS engines (espeak, flite, festival)")
    p.add_argument("--feature", default="fbank", choices=("linear", "fbank", "mfcc"), help="feature kind")
    p.add_argument("--seed", type=int, default=0, help="seed for corpus and training")
    p.add_argument("--quick", action="store_true", help="tiny corpus and short stages (smoke test)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {list(STAGES)}")
    args = p.parse_args(argv)
    from ds2ray.cli import setup_logging

    setup_logging()
    cfg = DemoConfig(Path(args.out_dir), args.hours, args.engines, args.feature, args.seed, args.quick)
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
