"""Long-form transcription: an hour-long recording through ``Recognizer.transcribe_long``.

The recording is built from real speech: speechocean762 test utterances (``../shared/data``, read
English, with transcripts) in a seeded order, joined by pauses of 0.5-2.0 s of faint noise
(-54 dBFS), written clip by clip to a 16-bit FLAC (never held in memory whole) until it lasts
``--minutes``. The transcription runs in a child process, so its peak RSS is its own (model,
decoder, LM and the long-form path; not the building of the file nor the baseline).

Reported: times real time of the whole file (wall clock: read, resample, VAD, model, decoding),
peak RSS, and the WER of the long file's text against the joined transcripts, next to the
baseline measured in the same run: the same clips decoded one by one (each its own utterance,
batched through the model as ``ds2ray test`` does). Targets (issue 16): >= 100x real time on the
2-core machine, peak RSS <= 1 GB, WER within 0.02 of the baseline.

    python bench/longform.py [--minutes 60] [--checkpoint en] [--decoder greedy|beam] [--backend auto]
                             [--threads 2] [--data ../shared/data] [--batch-seconds 600] [--overlap]

``--batch-seconds`` (seconds of segments sorted and decoded together) and ``--overlap`` (search
each pool on a worker thread beside the next pool's network pass) are there to compare the long-form path's
settings (:meth:`~ds2ray.transcribe.Recognizer.iter_segments`).

Prints a table and writes bench/results/longform.json. Skips with a message when the shared data
is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ds2ray.config import MODEL_BACKENDS, PRECISIONS
from ds2ray.transcribe import LONG_BATCH_SECONDS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CORPUS = "speechocean762"
TARGETS = {"x_real_time": 100.0, "peak_rss_mb": 1024.0, "wer_delta": 0.02}
PAUSE_S = (0.5, 2.0)
NOISE_RMS = 0.002
RATE = 16000


def build_recording(data: Path, minutes: float, out: Path, seed: int) -> tuple[list[dict], float]:
    """Write the long FLAC to ``out``; returns the clips used (in order) and its length in seconds."""
    import soundfile as sf

    from ds2ray.data.audio import load_audio

    folder = data / CORPUS
    rows = [json.loads(line) for line in (folder / "manifest_test.jsonl").read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    target = minutes * 60.0
    used, written = [], 0
    with sf.SoundFile(out, "w", RATE, 1, subtype="PCM_16", format="FLAC") as fh:
        for k in range(10 * len(rows)):  # utterances repeat if the set is shorter than asked for
            if written >= target * RATE:
                break
            row = rows[int(order[k % len(rows)])]
            audio = load_audio(str(folder / row["audio_filepath"]), RATE)
            pause = rng.normal(0, NOISE_RMS, int(rng.uniform(*PAUSE_S) * RATE)).astype(np.float32)
            fh.write(audio)
            fh.write(pause)
            used.append({"path": str(folder / row["audio_filepath"]), "text": row["text"],
                         "start": written / RATE, "seconds": len(audio) / RATE})
            written += len(audio) + len(pause)
    return used, written / RATE


def run_child(args: argparse.Namespace) -> None:
    """In the child: transcribe the long file, print one JSON line with the text and timings."""
    import torch

    torch.set_num_threads(args.threads)
    from ds2ray.transcribe import load_recognizer

    t0 = time.perf_counter()
    rec = load_recognizer(args.checkpoint, backend=args.backend, precision=args.precision, decoder=args.decoder)
    t1 = time.perf_counter()
    transcript = rec.transcribe_long(args.child, batch_seconds=args.batch_seconds, overlap=args.overlap)
    t2 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"text": transcript.text, "segments": len(transcript.segments), "seconds": transcript.duration,
                      "load_s": t1 - t0, "transcribe_s": t2 - t1, "peak_rss_mb": rss_mb,
                      "segment_lengths": [round(s.end - s.start, 2) for s in transcript.segments]}))


def baseline(args: argparse.Namespace, clips: list[dict]) -> tuple[list[str], float]:
    """The same clips decoded one by one (each its own utterance): texts and wall seconds."""
    import torch

    torch.set_num_threads(args.threads)
    from ds2ray.data.audio import load_audio
    from ds2ray.transcribe import load_recognizer

    rec = load_recognizer(args.checkpoint, backend=args.backend, precision=args.precision, decoder=args.decoder)
    texts: list[str] = []
    t0 = time.perf_counter()
    for i in range(0, len(clips), 64):
        chunk = clips[i:i + 64]
        texts += rec.transcribe_batch([load_audio(c["path"], RATE) for c in chunk])
    return texts, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="length of the built recording (default 60)")
    p.add_argument("--checkpoint", default="en", help="checkpoint or shipped model (default 'en')")
    p.add_argument("--decoder", choices=("greedy", "beam"), default=None,
                   help="default: the checkpoint's own (beam + LM for the shipped model)")
    p.add_argument("--backend", choices=MODEL_BACKENDS, default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="torch backend's products (default auto, as `ds2ray transcribe --local`)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the whole machine)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"the shared data folder (default {DEFAULT_DATA})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-seconds", type=float, default=LONG_BATCH_SECONDS,
                   help=f"seconds of speech segments decoded together (default {LONG_BATCH_SECONDS:g})")
    p.add_argument("--overlap", action="store_true",
                   help="search each pool on a worker thread beside the next pool's network pass")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "longform.json")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    if not (args.data / CORPUS / "manifest_test.jsonl").exists():
        print(f"skipped: {args.data / CORPUS}/manifest_test.jsonl not found (the shared speech data); pass --data")
        return 0
    import jiwer

    with tempfile.TemporaryDirectory(prefix="ds2ray_longform_") as tmp:
        path = Path(tmp) / "long.flac"
        t0 = time.perf_counter()
        clips, seconds = build_recording(args.data, args.minutes, path, args.seed)
        print(f"built {seconds / 60:.1f} min from {len(clips)} {CORPUS} test utterances in "
              f"{time.perf_counter() - t0:.0f} s ({path.stat().st_size / 2**20:.0f} MiB FLAC)", flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--checkpoint", args.checkpoint,
               "--backend", args.backend, "--precision", args.precision, "--threads", str(args.threads),
               "--batch-seconds", str(args.batch_seconds)]
        if args.overlap:
            cmd.append("--overlap")
        if args.decoder:
            cmd += ["--decoder", args.decoder]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        long = json.loads(done.stdout.strip().splitlines()[-1])
    texts, base_s = baseline(args, clips)
    reference = " ".join(c["text"] for c in clips)
    wer_long = jiwer.wer(reference, long["text"])
    wer_base = jiwer.wer(reference, " ".join(t for t in texts if t))
    speech_s = sum(c["seconds"] for c in clips)
    result = {
        "recording_minutes": round(seconds / 60, 2), "utterances": len(clips), "speech_minutes": round(speech_s / 60, 2),
        "checkpoint": args.checkpoint, "decoder": args.decoder or "checkpoint default", "backend": args.backend,
        "precision": args.precision, "threads": args.threads, "cpu_count": os.cpu_count(),
        "batch_seconds": args.batch_seconds, "overlap": args.overlap,
        "long": {"x_real_time": round(seconds / long["transcribe_s"], 1), "transcribe_s": round(long["transcribe_s"], 1),
                 "load_s": round(long["load_s"], 1), "peak_rss_mb": round(long["peak_rss_mb"], 0),
                 "segments": long["segments"], "mean_segment_s": round(float(np.mean(long["segment_lengths"] or [0])), 2),
                 "wer": round(wer_long, 4)},
        "baseline_clip_by_clip": {"x_real_time_of_speech": round(speech_s / base_s, 1), "decode_s": round(base_s, 1),
                                  "wer": round(wer_base, 4)},
        "wer_delta": round(wer_long - wer_base, 4),
        "targets": TARGETS,
    }
    result["meets"] = {"x_real_time": result["long"]["x_real_time"] >= TARGETS["x_real_time"],
                       "peak_rss_mb": result["long"]["peak_rss_mb"] <= TARGETS["peak_rss_mb"],
                       "wer_delta": abs(result["wer_delta"]) <= TARGETS["wer_delta"]}
    rows = [("recording", f"{result['recording_minutes']:.1f} min, {len(clips)} utterances, "
                          f"{result['long']['segments']} VAD segments (mean {result['long']['mean_segment_s']} s)"),
            ("long file: x real time", f"{result['long']['x_real_time']:.1f}  (target >= {TARGETS['x_real_time']:g})"),
            ("long file: peak RSS", f"{result['long']['peak_rss_mb']:.0f} MB  (target <= {TARGETS['peak_rss_mb']:g})"),
            ("long file: WER", f"{wer_long:.4f}"),
            ("baseline clip by clip: WER", f"{wer_base:.4f}"),
            ("WER delta (long - clips)", f"{result['wer_delta']:+.4f}  (target within {TARGETS['wer_delta']})"),
            ("baseline: x real time (speech)", f"{result['baseline_clip_by_clip']['x_real_time_of_speech']:.1f}")]
    width = max(len(k) for k, _ in rows)
    print(f"\nlong-form transcription: {args.checkpoint}, {result['decoder']}, backend {args.backend}, "
          f"{args.threads} thread(s), pools of {args.batch_seconds:g} s, "
          f"{'search beside the network' if result['overlap'] else 'no overlap'}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
