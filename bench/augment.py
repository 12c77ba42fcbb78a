"""Augmentation cost per utterance, single thread: the seed's example chain, a heavy chain (all six
waveform augmentors, every one firing), each augmentor alone, the real-world augmentors
(colored_noise, reverb, telephone, codec) alone and in the English recipe's chain, the Opus
round trip through libsndfile's Ogg/Opus (the path before session 16) against libopus directly, and
SpecAugment, in one run.

Target (issue 4): the seed's example chain at >= 200x real time per core, so augmentation never
starves training. Noise and impulse files are synthetic (10 s noise clips, 0.5-1 s room impulse
responses); utterances are speech-like signals of 2-16 s. The noise/impulse cache and the reverb bank of simulated
rooms are warmed first, as they are after the first few batches of a training run; the one-off
cost of simulating the bank (per process) is timed and printed on its own. Costs are CPU seconds of this
single-threaded process (per core); wall-clock figures are stored too.

    python bench/augment.py [--utterances 24] [--out bench/results/augment.json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

SR = 16000
TARGET_X_REALTIME = 200.0
REPO = Path(__file__).resolve().parents[1]


def make_sources(root: Path) -> tuple[str, str]:
    """Three 10 s noise clips (white, pink-ish, brown-ish) and three room impulse responses."""
    from ds2ray.data.corpora.noise import build_audio_list
    from ds2ray.testing.signals import write_audio

    rng = np.random.default_rng(0)
    for i, alpha in enumerate((0.0, 0.5, 1.0)):  # 1/f^alpha power spectrum
        spectrum = np.fft.rfft(rng.standard_normal(10 * SR))
        freqs = np.maximum(np.fft.rfftfreq(10 * SR, 1 / SR), 20.0)
        clip = np.fft.irfft(spectrum / freqs ** (alpha / 2), 10 * SR)
        write_audio(root / "noise" / f"noise{i}.wav", (0.1 * clip / clip.std()).astype(np.float32))
    for i, rt60 in enumerate((0.3, 0.5, 0.8)):
        n = int(rt60 * SR * 1.2)
        t = np.arange(n) / SR
        h = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
        h[0] = 1.0 / 0.3
        write_audio(root / "impulse" / f"rir{i}.wav", (0.3 * h / np.abs(h).max()).astype(np.float32), subtype="FLOAT")
    build_audio_list(root / "noise", root / "manifest.noise", what="noise")
    build_audio_list(root / "impulse", root / "manifest.impulse", what="impulse")
    return str(root / "manifest.noise"), str(root / "manifest.impulse")


def chains(noise: str, impulse: str) -> dict[str, list[dict]]:
    volume = {"type": "volume", "params": {"min_gain_dBFS": -10, "max_gain_dBFS": 10}}
    speed = {"type": "speed", "params": {"min_speed_rate": 0.95, "max_speed_rate": 1.05}}
    shift = {"type": "shift", "params": {"min_shift_ms": -5, "max_shift_ms": 5}}
    bayes = {"type": "bayesian_normal", "params": {"target_db": -20, "prior_db": -20, "prior_samples": 100}}
    noise_step = {"type": "noise", "params": {"min_snr_dB": 40, "max_snr_dB": 50, "noise_manifest_path": noise}}
    impulse_step = {"type": "impulse", "params": {"impulse_manifest_path": impulse}}
    seed_probs = [(noise_step, 0.6), (impulse_step, 0.5), (speed, 0.5), (shift, 1.0), (volume, 0.0), (bayes, 0.0)]
    every = [noise_step, impulse_step, speed, shift, volume, bayes]
    out = {
        "seed example (conf/augmentation.config.example)": [{**s, "prob": p} for s, p in seed_probs],
        "heavy: all six, prob 1": [{**s, "prob": 1.0} for s in every],
    }
    for step in every:
        out[f"{step['type']} alone, prob 1"] = [{**step, "prob": 1.0}]
    real = real_world_steps()
    for name in ("colored_noise", "reverb", "telephone"):
        out[f"{name} alone, prob 1"] = [{**real[name], "prob": 1.0}]
    for fmt in ("mp3", "opus"):
        codec = {"type": "codec", "params": {**real["codec"]["params"], "formats": [fmt]}}
        out[f"codec {fmt} alone, prob 1"] = [{**codec, "prob": 1.0}]
    out["real-world chain (English recipe)"] = real_world_chain()
    return out


def real_world_steps() -> dict[str, dict]:
    """The real-world augmentors with the English recipe's parameters (README, Augmentation)."""
    return {
        "speed": {"type": "speed", "params": {"min_speed_rate": 0.9, "max_speed_rate": 1.1}},
        "reverb": {"type": "reverb", "params": {"min_rt60_s": 0.2, "max_rt60_s": 0.8, "bank_size": 64}},
        "colored_noise": {"type": "colored_noise", "params": {"min_snr_dB": 5, "max_snr_dB": 30,
                                                              "colors": ["white", "pink", "brown"]}},
        "telephone": {"type": "telephone", "params": {"g711": "mulaw"}},
        "codec": {"type": "codec", "params": {"formats": ["mp3", "opus"], "min_compression_level": 0.5,
                                              "max_compression_level": 0.95}},
        "volume": {"type": "volume", "params": {"min_gain_dBFS": -10, "max_gain_dBFS": 10}},
    }


def real_world_chain() -> list[dict]:
    """speed, then the room (reverb) before the background noise, then the channel (telephone,
    codec), then the level: the order the sound takes from a speaker to a recording."""
    real = real_world_steps()
    probs = {"speed": 0.5, "reverb": 0.3, "colored_noise": 0.5, "telephone": 0.1, "codec": 0.1, "volume": 1.0}
    return [{**real[name], "prob": prob} for name, prob in probs.items()]


def time_reverb_bank() -> tuple[int, float, float]:
    """The one-off cost of simulating the real-world reverb bank at 16 kHz: (rooms, wall s, CPU s)."""
    from ds2ray.augment import AugmentPipeline

    aug = AugmentPipeline.from_config([{**real_world_steps()["reverb"], "prob": 1.0}]).steps[0].augmentor
    start, cpu = time.perf_counter(), time.process_time()
    aug.bank(SR)
    return aug.bank_size, time.perf_counter() - start, time.process_time() - cpu


def time_waveform(config: list[dict], utterances: list[np.ndarray]) -> tuple[float, float]:
    from ds2ray.augment import AugmentPipeline

    pipe = AugmentPipeline.from_config(config)
    for i, x in enumerate(utterances[:4]):  # warm-up: decodes noise/impulse files into the cache
        pipe.process_waveform(x, SR, AugmentPipeline.rng_for(0, 99, i))
    start, cpu = time.perf_counter(), time.process_time()
    for i, x in enumerate(utterances):
        pipe.process_waveform(x, SR, AugmentPipeline.rng_for(0, 0, i))
    return time.perf_counter() - start, time.process_time() - cpu


FEATURE_CHAINS: dict[str, list[dict] | None] = {
    "specaugment F27x2 T100x2 W40 (on linear features)": [{"type": "specaugment", "params": {
        "F": 27, "n_freq_masks": 2, "T": 100, "n_time_masks": 2, "p": 0.2, "W": 40}, "prob": 1.0}],
    "freq_warp 0.85-1.15 (on linear features)": [{"type": "freq_warp", "params": {
        "min_warp": 0.85, "max_warp": 1.15}, "prob": 1.0}],
    "reference: linear feature extraction": None,
}


def time_features(utterances: list[np.ndarray], config: list[dict] | None) -> tuple[float, float]:
    """Time one feature-stage chain over precomputed features; ``None`` times the extraction itself."""
    from ds2ray.augment import AugmentPipeline
    from ds2ray.data.features import FeatureExtractor

    extractor = FeatureExtractor()
    pipe = AugmentPipeline.from_config(config)
    feats = [extractor(torch.from_numpy(x)) for x in utterances]
    start, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for i, (x, f) in enumerate(zip(utterances, feats)):
            if config is not None:
                pipe.process_features(f, AugmentPipeline.rng_for(0, 0, i))
            else:
                extractor(torch.from_numpy(x))
    return time.perf_counter() - start, time.process_time() - cpu


def time_opus_paths(utterances: list[np.ndarray]) -> list[dict]:
    """The Opus round trip at the English recipe's levels (0.5-0.95, drawn per utterance): through
    libsndfile's Ogg/Opus (always complexity 10; the codec path before session 16), through libopus
    at complexity 10 and at the default draw 0-10, and MP3 VBR for reference. Each row is timed
    round trip + alignment, the way ``codec`` does it."""
    from ds2ray.augment.codec import soundfile_round_trip
    from ds2ray.augment.opus import opus_bitrate, opus_round_trip

    rng = np.random.default_rng(3)
    levels = [round(float(v) / 0.05) * 0.05 for v in rng.uniform(0.5, 0.95, len(utterances))]
    complexities = [int(c) for c in rng.integers(0, 11, len(utterances))]
    paths = {
        "opus: libsndfile Ogg/Opus (before; complexity 10)": lambda x, level, _: soundfile_round_trip(
            x, SR, "opus", level, None),
        "opus: libopus, complexity 10": lambda x, level, _: opus_round_trip(x, SR, opus_bitrate(level), 10),
        "opus: libopus, complexity 0-10 (the default)": lambda x, level, c: opus_round_trip(
            x, SR, opus_bitrate(level), c),
        "mp3 VBR (reference)": lambda x, level, _: soundfile_round_trip(x, SR, "mp3", level, "VARIABLE"),
    }
    rows = []
    for name, path in paths.items():
        for level in sorted(set(levels)):  # warm the per-level delay cache, as a long run has
            path(utterances[0][:SR], level, 10)
        start, cpu = time.perf_counter(), time.process_time()
        for x, level, complexity in zip(utterances, levels, complexities):
            path(x, level, complexity)
        rows.append({"chain": name, "stage": "codec", "wall_s": time.perf_counter() - start,
                     "cpu_s": time.process_time() - cpu})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=24, help="utterances per chain (2-16 s each)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "augment.json"), help="JSON results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from ds2ray.testing.signals import speechlike

    rng = np.random.default_rng(1)
    durations = rng.uniform(2.0, 16.0, args.utterances)
    utterances = [speechlike(float(d), seed=i) for i, d in enumerate(durations)]
    audio_s = float(durations.sum())
    rows = []
    bank_rooms, bank_wall, bank_cpu = time_reverb_bank()
    with tempfile.TemporaryDirectory(prefix="bench_augment_") as tmp:
        noise, impulse = make_sources(Path(tmp))
        for name, config in chains(noise, impulse).items():
            wall, cpu = time_waveform(config, utterances)
            rows.append({"chain": name, "stage": "waveform", "config": config, "wall_s": wall, "cpu_s": cpu})
    rows.extend(time_opus_paths(utterances))
    for name, config in FEATURE_CHAINS.items():
        wall, cpu = time_features(utterances, config)
        rows.append({"chain": name, "stage": "features", "wall_s": wall, "cpu_s": cpu})
    for row in rows:
        # CPU time of this single-threaded process: the cost per core, less sensitive to other load
        row["ms_per_utterance"] = 1000 * row["cpu_s"] / len(utterances)
        row["x_realtime"] = audio_s / row["cpu_s"]
        row["x_realtime_wall"] = audio_s / row["wall_s"]

    print(f"{len(utterances)} utterances, {audio_s:.0f} s of audio (mean {audio_s / len(utterances):.1f} s), "
          f"1 thread")
    print(f"{'chain':<52} {'cpu ms/utt':>10} {'x real time':>12} {'(wall)':>8}")
    for row in rows:
        print(f"{row['chain']:<52} {row['ms_per_utterance']:>10.2f} {row['x_realtime']:>12.0f} "
              f"{row['x_realtime_wall']:>8.0f}")
    print(f"reverb bank: {bank_rooms} simulated rooms in {bank_cpu:.1f} s CPU ({bank_wall:.1f} s wall), "
          "once per process")
    before = next(row for row in rows if row["chain"].startswith("opus: libsndfile"))
    for row in rows:
        if row["stage"] == "codec":
            row["speedup_vs_libsndfile_opus"] = before["cpu_s"] / row["cpu_s"]
            print(f"  {row['chain']}: {row['speedup_vs_libsndfile_opus']:.2f}x the libsndfile Opus path")
    seed_row = rows[0]
    met = seed_row["x_realtime"] >= TARGET_X_REALTIME
    print(f"target: seed example chain >= {TARGET_X_REALTIME:.0f}x real time per core: "
          f"{'met' if met else 'NOT met'} ({seed_row['x_realtime']:.0f}x)")

    import pyroomacoustics
    import soundfile
    import soxr

    result = {
        "benchmark": "augment",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "threads": 1, "load_average": list(os.getloadavg())},
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                     "soxr": soxr.__version__, "soundfile": soundfile.__version__,
                     "libsndfile": soundfile.__libsndfile_version__,
                     "pyroomacoustics": pyroomacoustics.__version__},
        "utterances": len(utterances), "audio_seconds": audio_s,
        "target_x_realtime": TARGET_X_REALTIME, "target_met": met,
        "reverb_bank": {"rooms": bank_rooms, "wall_s": bank_wall, "cpu_s": bank_cpu},
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")
    return 0  # timings swing with machine load: the verdict is printed and stored, not an exit code


if __name__ == "__main__":
    sys.exit(main())
