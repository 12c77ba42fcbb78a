"""Real-time factor of load + resample + features on ONE core.

Uses real speech from ../shared/data when present (8 kHz FSDD needs resampling, 16 kHz sets do
not), otherwise a synthetic espeak-ng set. The baseline, measured in the same run, is the seed's
numpy spectrogram (``np.fft.rfft`` over strided frames). Target: linear spectrogram at 16 kHz
>= 500x real time on one core.

    python bench/features.py [--max-files 400] [--out bench/results/features.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ds2ray.data.audio import load_audio
from ds2ray.data.features import FeatureConfig, FeatureExtractor
from ds2ray.data.manifest import read_manifest

SHARED = Path(os.environ.get("DS2RAY_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def seed_numpy_linear(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The seed's spectrogram: numpy strided frames, Hann window, rfft, scaled power, log."""
    win = np.hanning(cfg.win_length)
    n = (len(wave) - cfg.win_length) // cfg.hop_length + 1
    frames = np.lib.stride_tricks.as_strided(
        wave, shape=(n, cfg.win_length), strides=(wave.strides[0] * cfg.hop_length, wave.strides[0]))
    spec = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2 / (np.sum(win ** 2) * cfg.sample_rate)
    spec[:, 1:-1] *= 2
    return np.log(spec + cfg.eps)


def datasets(max_files: int) -> dict[str, list]:
    sets = {}
    for name in ("speech_commands", "an4", "fsdd"):
        path = SHARED / name / "manifest.jsonl"
        if path.exists():
            sets[name] = read_manifest(path).entries[:max_files]
    if not sets:
        from ds2ray.data.corpora.synth import SynthConfig, synthesize_corpus

        out = Path(tempfile.mkdtemp(prefix="bench_feat_"))
        paths = synthesize_corpus(SynthConfig(num_utterances=max_files // 2, hours=None, heldout_timbres=1), out,
                                  num_workers=2, progress=False)
        sets["synthetic"] = read_manifest(paths["train"]).entries
    return sets


def time_pipeline(entries, fn) -> tuple[float, float]:
    audio_s = sum(e.duration for e in entries)
    t0 = time.perf_counter()
    for e in entries:
        fn(e)
    wall = time.perf_counter() - t0
    return audio_s, wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-files", type=int, default=400, help="files per data set")
    p.add_argument("--out", default="bench/results/features.json", help="JSON results")
    args = p.parse_args()
    torch.set_num_threads(1)
    results = []
    for name, entries in datasets(args.max_files).items():
        rate = int(np.median([__import__("soundfile").info(e.audio_filepath).samplerate for e in entries[:20]]))
        extractors = {k: FeatureExtractor(FeatureConfig(kind=k)) for k in ("linear", "fbank", "mfcc")}
        lin_cfg = extractors["linear"].config
        for e in entries[:20]:  # warm the page cache and torch
            extractors["linear"].numpy(load_audio(e.audio_filepath))
        cases = {
            "load+resample": lambda e: load_audio(e.audio_filepath, 16000),
            "baseline: load + seed numpy linear": lambda e: seed_numpy_linear(
                load_audio(e.audio_filepath, 16000).astype(np.float64), lin_cfg),
            **{f"load + {k}": (lambda e, ex=ex: ex.numpy(load_audio(e.audio_filepath, 16000)))
               for k, ex in extractors.items()},
        }
        for case, fn in cases.items():
            audio_s, wall = time_pipeline(entries, fn)
            results.append({"dataset": name, "native_rate": rate, "case": case, "files": len(entries),
                            "audio_s": round(audio_s, 2), "wall_s": round(wall, 4), "rtf_x": round(audio_s / wall, 1)})
    for r in results:
        base = next(b for b in results if b["dataset"] == r["dataset"] and b["case"].startswith("baseline"))
        r["vs_baseline"] = round(r["rtf_x"] / base["rtf_x"], 2)
    print(f"\n{'dataset':<16}{'rate':>6} {'case':<36}{'files':>6}{'audio s':>9}{'x real time':>13}{'vs base':>9}")
    for r in results:
        print(f"{r['dataset']:<16}{r['native_rate']:>6} {r['case']:<36}{r['files']:>6}{r['audio_s']:>9.1f}"
              f"{r['rtf_x']:>13.0f}{r['vs_baseline']:>9.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": 1, "target_linear_16k_x": 500, "results": results}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
