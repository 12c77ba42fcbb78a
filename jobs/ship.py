"""Ship stage: replace the shipped model (``ds2ray/pretrained/<name>``) with the recipe's trained one,
only when it is better on real speech.

    python -m jobs.ship --config jobs/english/config.yaml [--name en] [--dev-utterances 400] [--force]

1. Both models decode the same fixed sample of the recipe's dev split (``--dev-utterances``,
   seeded) with beam search + LM: the trained checkpoint with the recipe's LM and ``tune/best.json``,
   the shipped one as shipped (its LM and tuned.json). Measured now, on this machine, so the two
   numbers compare.
2. Only if the trained model's dev WER is lower (or nothing is shipped, or ``--force``), it writes
   the card (hours and licence per data source from ``data/english.json``; steps, CPU-hours and
   audio-hours seen, added to the shipped model's when the run started from it, ``train.init_from``;
   the dev WER of both) and packs: float16 weights, the recipe's LM (a quantised trie with
   ``lm.quantize``), tuned alpha/beta, WER/CER on every real test set (``--measure``) and MODEL.md.

The result, shipped or not, is ``<exp>/ship.json``.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from ds2ray.decode.tuned import read_tuned
from ds2ray.pipeline.experiment import Experiment, write_json
from jobs.recipe import REPO, load_experiment, run_stage, stage_parser

#: Licence of each training source, for the card (the shared data's README and the Debian packages).
LICENCES = {
    "speechocean762": "free for commercial and non-commercial use (speechocean762 README)",
    "fsdd": "CC BY-SA 4.0",
    "speech_commands": "CC BY 4.0",
    "synth:espeak": "generated with espeak-ng (GPL-3+; its output is unrestricted)",
    "synth:flite": "generated with flite and its CMU voices (BSD-style)",
    "synth:festival": "generated with festival and festvox kal/ked/slt voices (CSTR/CMU free licences)",
    "synth:piper": "generated with piper-tts (GPL-3+; its output is unrestricted) and the en_US joe voice (CC0)",
}
LM_SOURCE = ("built-in sentences, WordNet examples, GCIDE quotations, World English Bible, fortunes-min, "
             "speechocean762 train transcripts; every dev/test sentence removed")
LM_LICENCE = "WordNet licence, GPL-2+ (GCIDE), public domain (WEB), BSD (fortunes), speechocean762 licence"
#: Real sets measured into the card (names of ds2ray.pretrained.card.EVAL_SETS).
MEASURE_SETS = ("pocketsphinx", "speechbrain", "an4", "alsa_sounds", "speechocean762")
WEAKNESSES = [
    "Trained on about 3 hours of real speech (speechocean762 train, FSDD, Speech Commands): real accents, "
    "microphones and rooms beyond those are covered only by augmentation.",
    "Most training audio is synthetic (espeak-ng, flite, festival, one neural piper voice), read at an even pace: fast, "
    "spontaneous or overlapping speech is far outside what it has heard.",
    "Small CPU model (3.9M parameters, 3 x bi-GRU 256) trained for hours, not weeks: expect high WER on "
    "open-vocabulary speech; the 4-gram LM does much of the work.",
    "Words outside the LM's 41k-word vocabulary are rarely recognised with beam search.",
    "Native read English (the pocketsphinx and speechbrain sets, LibriVox-style sentences) and spelled "
    "letters (an4) are far behind pocketsphinx on the same files: see the table above.",
]


def dev_sample(exp: Experiment, count: int, seed: int = 0) -> list:
    """A fixed, seeded sample of ``count`` dev utterances (all of them if fewer)."""
    from ds2ray.data.manifest import read_manifest

    entries = list(read_manifest(exp.manifests(exp.recipe.data.dev)))
    if count and len(entries) > count:
        entries = random.Random(seed).sample(entries, count)
    return entries


def beam_wer(checkpoint: str, entries: list, decoder) -> float:
    """WER of ``checkpoint`` on ``entries`` with ``decoder`` (a DecoderConfig)."""
    from ds2ray.evaluate import compute_log_probs, decode_log_probs, score
    from ds2ray.metrics import total
    from ds2ray.model.checkpoint import load_checkpoint

    vocab = load_checkpoint(checkpoint).vocab
    log_probs = compute_log_probs(checkpoint, entries, num_workers=0, progress=False)
    hyps = decode_log_probs(log_probs, decoder, vocab, num_workers=2, backend="process", progress=False)
    return round(total(r.word for r in score(entries, hyps, vocab.language)).rate, 4)


def run_totals(run_dir: str, train_cfg, upto_step: int | None = None) -> dict[str, float]:
    """Steps, CPU-hours, audio-hours and wall hours of a training run, from its steps.csv; with
    ``upto_step`` (the shipped checkpoint's step, when the run's best or an earlier one is shipped)
    only what led to that checkpoint."""
    path = Path(run_dir) / "logs" / "steps.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if upto_step:
        rows = [r for r in rows if int(float(r["step"])) <= upto_step]
    if not rows:
        raise ValueError(f"{path}: no steps logged" + (f" up to step {upto_step}" if upto_step else ""))
    elapsed = float(rows[-1]["elapsed_s"])
    cpus = train_cfg.num_workers * train_cfg.cpus_per_worker
    return {"steps": int(float(rows[-1]["step"])), "cpu_hours": round(elapsed * cpus / 3600, 3),
            "audio_hours_seen": round(sum(float(r["window_audio_s"]) for r in rows) / 3600, 2),
            "wall_hours": round(elapsed / 3600, 3)}


def data_sources(exp: Experiment) -> list[dict[str, Any]]:
    """Hours per training source (synthetic speech per engine) with licences, from data/english.json."""
    info = json.loads((exp.root / "data" / "english.json").read_text())
    train = info["splits"]["train"]
    out = []
    for source, row in train.items():
        if source == "synth":
            for engine, erow in (info.get("synth", {}).get("engines") or {}).items():
                hours = erow.get("hours") if isinstance(erow, dict) else None
                if hours is not None:
                    out.append({"source": f"synthetic: {engine}", "hours": round(float(hours), 2),
                                "licence": LICENCES.get(f"synth:{engine}", "see the engine's package")})
            continue
        twice = "train_real" in exp.recipe.data.train  # real speech listed twice (the english corpus builder)
        out.append({"source": source + (" (weighted twice)" if twice else ""), "hours": round(row["hours"], 2),
                    "licence": LICENCES.get(source, "see ../shared/data/README.md")})
    return out


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def ship(exp: Experiment, name: str, dev_utterances: int, force: bool, shared: str, *,
         out_root: str | Path | None = None, measure_sets: tuple[str, ...] = MEASURE_SETS) -> str:
    """Pack ``exp``'s trained model as ``<out_root>/<name>`` (default: the package's shipped models)
    if it beats the one there on dev WER; see the module docstring."""
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.pretrained import MODEL_FILE, PACKAGE_DIR, ShippedModel
    from ds2ray.pretrained.pack import pack_model

    out_root = Path(out_root) if out_root is not None else PACKAGE_DIR

    recipe = exp.recipe
    checkpoint = exp.checkpoint()
    if exp.lm is None or not exp.lm.exists():
        raise FileNotFoundError(f"{exp.lm}: the recipe's LM is missing (run the lm step)")
    if not exp.best_json.exists():
        raise FileNotFoundError(f"{exp.best_json} not found: run the tune stage first")
    tuned = read_tuned(str(exp.best_json))
    decoder = DecoderConfig(type="beam", lm_path=str(exp.lm), beam_width=recipe.decoder.beam_width,
                            beam_prune_logp=recipe.decoder.beam_prune_logp,
                            token_min_logp=recipe.decoder.token_min_logp,
                            alpha=float(tuned["alpha"]), beta=float(tuned["beta"]))
    entries = dev_sample(exp, dev_utterances)
    t0 = time.time()
    new_wer = beam_wer(checkpoint, entries, decoder)
    shipped = ShippedModel(name, out_root / name) if (out_root / name / MODEL_FILE).is_file() else None
    old_wer = beam_wer(str(shipped.folder), entries, shipped.beam_config()) if shipped is not None else None
    report: dict[str, Any] = {"checkpoint": checkpoint, "dev_utterances": len(entries), "dev_wer_beam": new_wer,
                              "shipped_dev_wer_beam": old_wer, "measure_s": round(time.time() - t0, 1)}
    better = old_wer is None or new_wer < old_wer
    if not (better or force):
        report["shipped"] = False
        write_json(exp.root / "ship.json", report)
        return f"not shipped: dev WER {new_wer:.4f} (beam + LM) is not below the shipped model's {old_wer:.4f}"

    from ds2ray.model.checkpoint import load_checkpoint

    train_info = json.loads(exp.train_json.read_text())
    step = int(load_checkpoint(checkpoint).metrics.get("step") or 0)
    run = run_totals(train_info["run_dir"], recipe.train, upto_step=step or None)
    run["checkpoint"] = train_info.get("selected", "last")  # last, best (lowest dev CER) or averaged
    previous: dict[str, Any] = {}
    if shipped is not None and recipe.train.init_from in (name, str(shipped.folder)):
        previous = shipped.card().get("training", {})  # the run continued the shipped model
    training = {key: round(float(previous.get(key, 0.0)) + run[key], 3)
                for key in ("steps", "cpu_hours", "audio_hours_seen", "wall_hours")}
    training["steps"] = int(training["steps"])
    training["hardware"] = f"{recipe.train.num_workers} x {recipe.train.cpus_per_worker} CPU (Ray Train, gloo)"
    training["runs"] = [*previous.get("runs", []),
                        {"date": time.strftime("%Y-%m-%d"), "commit": _git_commit(), **run,
                         "init_from": recipe.train.init_from, "dev_wer_beam": new_wer}]
    card = {
        "title": "ds2ray English (small CPU DeepSpeech2)",
        "description": ("English speech recognition trained on this project's 2-core machines: real read speech "
                        "plus tens of hours of synthetic voices with real-world augmentation (rooms, noise, "
                        "telephone band, codecs). Decodes with a 4-gram KenLM by default."),
        "data": data_sources(exp),
        "recipe": f"jobs/english/run.sh  (then: python -m jobs.ship --config jobs/english/config.yaml); "
                  f"commit {_git_commit()}",
        "training": training,
        "lm": {"source": LM_SOURCE, "licence": LM_LICENCE, "order": recipe.lm.order, "prune": recipe.lm.prune},
        "dev": {"set": f"speechocean762 test half minus the test lines, {len(entries)} sampled (seed 0)",
                "wer_beam": new_wer, "previous_wer_beam": old_wer},
        "weaknesses": WEAKNESSES,
    }
    result = pack_model(checkpoint, out_root / name, card=card, lm=str(exp.lm), tuned=exp.best_json,
                        measure_data=shared, measure_sets=measure_sets)
    report.update(shipped=True, folder=str(out_root / name), bytes=result.total_bytes)
    write_json(exp.root / "ship.json", report)
    was = f"{old_wer:.4f}" if old_wer is not None else "none shipped"
    return f"shipped to {out_root / name} ({result.total_bytes / 1e6:.1f} MB): dev WER {new_wer:.4f} (was {was})"


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.ship", __doc__)
    p.add_argument("--name", default="en", help="the shipped model's name (default en)")
    p.add_argument("--dev-utterances", type=int, default=400, help="dev utterances both models decode (default 400)")
    p.add_argument("--data", default=None, help="the shared real-speech folder (default: the recipe's data.source)")
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    shared = args.data or exp.resolve(exp.recipe.data.source or "../shared/data")
    return run_stage("ship", lambda: ship(exp, args.name, args.dev_utterances, args.force, shared))


if __name__ == "__main__":
    raise SystemExit(main())
