"""``ds2ray prepare synth``: a synthetic speech corpus from text, seeded and deterministic.

Utterance ``i`` draws its split, sentence, voice, speed and pitch from ``Random((seed, i))``, so
the same flags always give the same corpus. Dev and test use voice *timbres* (espeak variants,
flite voices) never heard in training, and sentences never seen in training.

Voices: ``balance="voice"`` (default) draws uniformly over all voices, so the engine with the most
voices (espeak-ng: ~400) dominates; ``balance="engine"`` gives every engine an equal share of the
utterances (engine ``i % n`` for utterance ``i``, over the engines that have voices in its split),
then a voice uniformly within that engine. A split whose fraction is 0 is left empty.

Re-runnable: WAVs are written under temp names and renamed, a re-run reuses finished WAVs, and
``synth.json`` (written last) marks a finished corpus.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import random
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from ds2ray import fileio
from ds2ray.data.corpora import Corpus, PathFlag
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "synthesize a corpus with espeak-ng (and flite/festival) voices; held-out voices for dev/test"
SPLITS = ("train", "dev", "test")
BALANCE = ("voice", "engine")
ESPEAK_VARIANTS = ("listed", "all")
_LATER_FIELDS = {"balance": "voice", "espeak_variants": "listed"}


@dataclass(frozen=True)
class SynthConfig:
    text: str | None = None  # sentence file; None = the built-in English list
    engines: tuple[str, ...] = ("espeak",)
    hours: float | None = 1.0
    num_utterances: int | None = None
    dev_fraction: float = 0.05
    test_fraction: float = 0.05
    heldout_timbres: int = 3  # per held-out split
    min_speed: float = 0.85
    max_speed: float = 1.2
    min_pitch: float = 0.7
    max_pitch: float = 1.3
    sample_rate: int = 16000
    seed: int = 0
    balance: str = "voice"  # voice: uniform over all voices | engine: equal share per engine, then voice
    espeak_variants: str = "listed"  # listed | all (every installed variant but the whispering ones)

    def __post_init__(self) -> None:
        object.__setattr__(self, "engines", tuple(self.engines))
        if self.balance not in BALANCE:
            raise ValueError(f"SynthConfig.balance must be one of {BALANCE}, got {self.balance!r}")
        if self.espeak_variants not in ESPEAK_VARIANTS:
            raise ValueError(f"SynthConfig.espeak_variants must be 'listed' or 'all', got {self.espeak_variants!r}")

    def to_dict(self) -> dict:
        """The settings; fields added later are left out at their defaults, so corpora built before
        they existed keep their fingerprint."""
        data = asdict(self)
        for name, default in _LATER_FIELDS.items():
            if data[name] == default:
                del data[name]
        return data

    def engine_options(self, engine: str) -> dict:
        return {"variants": self.espeak_variants} if engine == "espeak" else {}

    def fingerprint(self, sentences: list[str]) -> str:
        h = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode())
        h.update("\n".join(sentences).encode())
        return h.hexdigest()[:16]

    def plan_fingerprint(self, sentences: list[str]) -> str:
        """What utterance ``i`` is (every setting but the corpus size): WAVs of a corpus with the same
        plan are reused when the size changes."""
        data = {k: v for k, v in self.to_dict().items() if k not in ("hours", "num_utterances")}
        h = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
        h.update("\n".join(sentences).encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Job:
    index: int
    split: str
    sentence: str
    voice_id: str
    speed: float
    pitch: float


@dataclass(frozen=True)
class SynthOptions(CorpusOptions):
    """``ds2ray prepare synth`` flags; :meth:`config` turns them into a :class:`SynthConfig`."""

    text: str | None = option(None, "sentence file, one per line (default: built-in English list)")
    engines: str = option("espeak", "comma-separated TTS engines: espeak (espeak-ng), flite, festival; "
                                    "'all' = every installed one")
    hours: float | None = option(None, "target total audio hours (default 1.0)", group="size")
    num_utterances: int | None = option(None, "exact number of utterances instead", group="size")
    dev_fraction: float = option(0.05, "share of utterances (and sentences) for dev")
    test_fraction: float = option(0.05, "share of utterances (and sentences) for test")
    heldout_timbres: int = option(3, "voice timbres held out for dev and for test each")
    speed_range: tuple[float, float] = option((0.85, 1.2), "speaking-rate factors", metavar=("MIN", "MAX"))
    pitch_range: tuple[float, float] = option((0.7, 1.3), "pitch factors", metavar=("MIN", "MAX"))
    sample_rate: int = option(16000, "output sample rate")
    seed: int = option(0, "corpus seed")
    balance: str = option("voice", "voice: uniform over all voices (espeak-ng's many variants dominate); "
                                   "engine: an equal share of utterances per engine, then uniform over its voices",
                          choices=BALANCE)
    espeak_variants: str = option("listed", "espeak-ng voice variants: a fixed list, or every installed one "
                                            "(not whispering)", choices=ESPEAK_VARIANTS)
    num_workers: int = option(os.cpu_count() or 1, "parallel synthesis workers")

    def validate(self) -> None:
        check(bool(self.engine_names()), self, "engines", "must name at least one TTS engine")
        check(self.hours is None or self.num_utterances is None, self, "num_utterances",
              f"cannot be combined with hours={self.hours!r}; give one of them")
        check(self.hours is None or self.hours > 0, self, "hours", "must be > 0")
        check(self.num_utterances is None or self.num_utterances >= 1, self, "num_utterances", "must be >= 1")
        for name in ("dev_fraction", "test_fraction"):
            check(0 <= getattr(self, name) < 1, self, name, "must be a share in [0, 1)")
        check(self.heldout_timbres >= 0, self, "heldout_timbres", "must be >= 0")
        for name in ("speed_range", "pitch_range"):
            lo_hi = getattr(self, name)
            check(len(lo_hi) == 2 and 0 < lo_hi[0] <= lo_hi[1], self, name, "must be (MIN, MAX) with 0 < MIN <= MAX")
        check(self.sample_rate > 0, self, "sample_rate", "must be > 0")
        check(self.balance in BALANCE, self, "balance", f"must be one of {BALANCE}")
        check(self.espeak_variants in ESPEAK_VARIANTS, self, "espeak_variants", f"must be one of {ESPEAK_VARIANTS}")
        check(self.num_workers >= 1, self, "num_workers", "must be >= 1")

    def engine_names(self) -> tuple[str, ...]:
        """``engines`` as names; ``all`` stays ``("all",)`` until :meth:`config` resolves it."""
        return tuple(e.strip() for e in self.engines.split(",") if e.strip())

    def config(self) -> SynthConfig:
        """The corpus settings (``engines="all"``: every installed engine, checked now)."""
        engines = self.engine_names()
        if engines == ("all",):
            from ds2ray.data.corpora.tts import ENGINES

            engines = tuple(n for n in ENGINES if ENGINES[n].available())
        return SynthConfig(
            text=self.text, engines=engines,
            hours=None if self.num_utterances else (self.hours if self.hours is not None else 1.0),
            num_utterances=self.num_utterances, dev_fraction=self.dev_fraction, test_fraction=self.test_fraction,
            heldout_timbres=self.heldout_timbres, min_speed=self.speed_range[0], max_speed=self.speed_range[1],
            min_pitch=self.pitch_range[0], max_pitch=self.pitch_range[1], sample_rate=self.sample_rate,
            seed=self.seed, balance=self.balance, espeak_variants=self.espeak_variants)


def prepare_synth(out_dir: Path, source: Path | None, options: SynthOptions, *,
                  overwrite: bool = False) -> dict[str, Path]:
    """Synthesize ``out_dir/wav/`` and ``manifest.{train,dev,test}.jsonl``; there is no ``source``
    (the text is ``options.text`` or the built-in list)."""
    if source is not None:
        raise ValueError(f"synth: the corpus is synthesized and takes no source folder (got {source}); "
                         "give a sentence file as the text option (--text) instead")
    manifests = synthesize_corpus(options.config(), Path(out_dir), num_workers=options.num_workers,
                                  overwrite=overwrite)
    return {split: Path(path) for split, path in manifests.items()}


def load_sentences(path: str | None) -> list[str]:
    if path is None:
        raw = resources.files("ds2ray.resources").joinpath("sentences_en.txt").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    sentences = list(dict.fromkeys(s.strip() for s in raw.splitlines() if s.strip()))
    if not sentences:
        raise ValueError(f"no sentences in {path or 'the built-in list'}")
    return sentences


def plan_splits(cfg: SynthConfig, sentences: list[str], voices: list) -> tuple[dict, dict]:
    """Disjoint sentence pools and voice pools per split; held-out splits get whole timbres."""
    rng = random.Random(cfg.seed)
    shuffled = sentences[:]
    rng.shuffle(shuffled)
    n = len(shuffled)
    n_dev = max(1, round(n * cfg.dev_fraction)) if cfg.dev_fraction > 0 else 0
    n_test = max(1, round(n * cfg.test_fraction)) if cfg.test_fraction > 0 else 0
    if n - n_dev - n_test < 1:
        raise ValueError(f"only {n} sentences: too few for train/dev/test splits")
    text_pools = {"dev": shuffled[:n_dev], "test": shuffled[n_dev:n_dev + n_test], "train": shuffled[n_dev + n_test:]}

    timbres = sorted({v.timbre for v in voices})
    rng.shuffle(timbres)
    k = cfg.heldout_timbres
    if len(timbres) < 2 * k + 1:
        raise ValueError(f"{len(timbres)} voice timbres cannot hold out {k} for dev and {k} for test; "
                         "lower --heldout-timbres or add --engines")
    if cfg.balance == "engine":
        timbres = _keep_one_per_engine(timbres, voices, 2 * k)
    held = {"dev": set(timbres[:k]), "test": set(timbres[k:2 * k])}
    voice_pools = {
        "dev": [v for v in voices if v.timbre in held["dev"]],
        "test": [v for v in voices if v.timbre in held["test"]],
        "train": [v for v in voices if v.timbre not in held["dev"] | held["test"]],
    }
    return text_pools, voice_pools


def _keep_one_per_engine(timbres: list[str], voices: list, n_held: int) -> list[str]:
    """Reorder the shuffled timbres so that the first ``n_held`` (the held-out ones) leave every
    engine at least one training timbre where it has two or more."""
    engine_of = {v.timbre: v.engine for v in voices}
    left = {e: sum(1 for t in timbres if engine_of[t] == e) for e in set(engine_of.values())}
    held: list[str] = []
    rest: list[str] = []
    for t in timbres:
        if len(held) < n_held and left[engine_of[t]] > 1:
            held.append(t)
            left[engine_of[t]] -= 1
        else:
            rest.append(t)
    if len(held) < n_held:
        raise ValueError(f"cannot hold out {n_held} timbres and keep one per engine for training; "
                         "lower --heldout-timbres")
    return held + rest


def make_job(cfg: SynthConfig, index: int, text_pools: dict, voice_pools: dict) -> Job:
    rng = random.Random(f"{cfg.seed}:{index}")
    r = rng.random()
    split = "dev" if r < cfg.dev_fraction else "test" if r < cfg.dev_fraction + cfg.test_fraction else "train"
    if cfg.balance == "engine":
        engines = sorted({v.engine for v in voice_pools[split]})
        engine = engines[index % len(engines)]
        voice = rng.choice([v for v in voice_pools[split] if v.engine == engine])
    else:
        voice = rng.choice(voice_pools[split])
    return Job(index, split, rng.choice(text_pools[split]), voice.id, round(rng.uniform(cfg.min_speed, cfg.max_speed), 3),
               round(rng.uniform(cfg.min_pitch, cfg.max_pitch), 3))


def synthesize_corpus(cfg: SynthConfig, out_dir: Path, *, num_workers: int = 1, overwrite: bool = False,
                      progress: bool = True) -> dict[str, str]:
    from tqdm import tqdm

    from ds2ray.data.corpora.tts import get_engine
    from ds2ray.data.manifest import ManifestEntry, write_manifest
    from ds2ray.data.text import normalize_text

    sentences = load_sentences(cfg.text)
    fingerprint = cfg.fingerprint(sentences)
    marker = out_dir / "synth.json"
    manifests = {s: str(out_dir / f"manifest.{s}.jsonl") for s in SPLITS}
    if marker.exists():
        done = json.loads(marker.read_text())
        if done.get("fingerprint") == fingerprint and all(Path(p).exists() for p in manifests.values()):
            counts = {k: v["utterances"] for k, v in done.get("summary", {}).items()}
            log.info("synthetic corpus in %s is already built %s; skipping", out_dir, counts)
            return manifests
        if not overwrite:
            raise ValueError(f"{out_dir} holds a synthetic corpus built with other settings; pass --overwrite "
                             "or choose another --out-dir")
        marker.unlink()
    plan_file = out_dir / "plan.json"  # written before the first WAV: says what the WAVs on disk are
    plan = cfg.plan_fingerprint(sentences)
    if plan_file.exists() and json.loads(plan_file.read_text()).get("plan") != plan:
        if not overwrite:
            raise ValueError(f"{out_dir} holds WAVs of a synthetic corpus with other settings; pass --overwrite "
                             "(they are deleted) or choose another --out-dir")
        shutil.rmtree(out_dir / "wav", ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with fileio.atomic_write(plan_file) as fh:
        json.dump({"plan": plan, "config": cfg.to_dict()}, fh, indent=1)

    engines = {name: get_engine(name, **cfg.engine_options(name)) for name in cfg.engines}
    voices = [v for e in engines.values() for v in e.voices()]
    by_id = {v.id: v for v in voices}
    text_pools, voice_pools = plan_splits(cfg, sentences, voices)
    target_s = None if cfg.num_utterances else cfg.hours * 3600
    limit = cfg.num_utterances or 10 ** 9

    def synth(job: Job) -> tuple[Job, str, float]:
        path = out_dir / "wav" / job.split / f"synth_{job.index:07d}.wav"
        if path.exists():  # finished by an earlier run (written under a temp name, then renamed)
            import soundfile as sf

            return job, str(path), sf.info(str(path)).duration
        voice = by_id[job.voice_id]
        t0 = time.perf_counter()
        audio, rate = engines[voice.engine].synthesize(job.sentence, voice, job.speed, job.pitch)
        from ds2ray.data.audio import to_mono_resampled

        audio = to_mono_resampled(audio, rate, cfg.sample_rate)
        _write_wav_atomic(path, audio, cfg.sample_rate)
        with timing_lock:
            synth_seconds[voice.engine] = synth_seconds.get(voice.engine, 0.0) + time.perf_counter() - t0
        return job, str(path), len(audio) / cfg.sample_rate

    synth_seconds: dict[str, float] = {}  # per engine, summed over the worker threads
    timing_lock = threading.Lock()
    results: dict[int, tuple[Job, str, float]] = {}
    total = 0.0
    next_index = 0
    stop_at: int | None = None
    bar = tqdm(total=round(target_s) if target_s else limit, unit="s" if target_s else "utt",
               desc="synthesizing", disable=not progress)
    t_start = time.perf_counter()
    with cf.ThreadPoolExecutor(max(1, num_workers)) as pool:
        pending: dict[cf.Future, int] = {}
        contiguous = 0  # results[0:contiguous] are all done: the cut is decided in index order
        while True:
            while stop_at is None and len(pending) < 4 * max(1, num_workers) and next_index < limit:
                job = make_job(cfg, next_index, text_pools, voice_pools)
                pending[pool.submit(synth, job)] = next_index
                next_index += 1
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                results[i] = fut.result()
            while contiguous in results and stop_at is None:
                total += results[contiguous][2]
                bar.update(round(results[contiguous][2]) if target_s else 1)
                contiguous += 1
                if (target_s and total >= target_s) or contiguous >= limit:
                    stop_at = contiguous
    bar.close()
    wall_s = time.perf_counter() - t_start
    for engine in engines.values():
        engine.close()
    keep = sorted(i for i in results if stop_at is None or i < stop_at)
    for i in set(results) - set(keep):  # overshoot past the target, finished in parallel
        Path(results[i][1]).unlink(missing_ok=True)

    per_split: dict[str, list] = {s: [] for s in SPLITS}
    for i in keep:
        job, path, duration = results[i]
        voice = by_id[job.voice_id]
        per_split[job.split].append(ManifestEntry(
            audio_filepath=path, duration=duration, text=normalize_text(job.sentence, "en"), speaker=voice.id,
            extra={"timbre": voice.timbre, "speed": job.speed, "pitch": job.pitch}))
    fractions = {"train": 1.0, "dev": cfg.dev_fraction, "test": cfg.test_fraction}
    for split in SPLITS:
        if not per_split[split] and fractions[split] > 0:
            raise ValueError(f"the {split} split came out empty; synthesize more (--hours/--num-utterances) "
                             "or raise --dev-fraction/--test-fraction")
        write_manifest(manifests[split], per_split[split])
    summary = {s: {"utterances": len(v), "hours": round(sum(e.duration for e in v) / 3600, 3),
                   "voices": len({e.speaker for e in v}), "timbres": sorted({e.extra["timbre"] for e in v})}
               for s, v in per_split.items()}
    by_engine = {}
    for name in engines:
        mine = [e for v in per_split.values() for e in v if e.speaker.startswith(name + ":")]
        by_engine[name] = {"utterances": len(mine), "hours": round(sum(e.duration for e in mine) / 3600, 3),
                           "voices": len({e.speaker for e in mine}),
                           "synth_thread_s": round(synth_seconds.get(name, 0.0), 1)}  # this run's WAVs only
    with fileio.atomic_write(marker) as fh:
        json.dump({"fingerprint": fingerprint, "config": cfg.to_dict(), "summary": summary, "engines": by_engine,
                   "wall_s": round(wall_s, 1), "num_workers": num_workers}, fh, indent=1)
    log.info("synthetic corpus by engine: %s", {n: (v["utterances"], v["hours"]) for n, v in by_engine.items()})
    log.info("synthetic corpus: %s", {s: (v["utterances"], v["hours"]) for s, v in summary.items()})
    return manifests


def _write_wav_atomic(path: Path, audio, sample_rate: int) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(str(tmp), audio, sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


CORPUS = Corpus(
    "synth", HELP, SynthOptions, prepare_synth,
    out_flag=PathFlag("--out-dir", "corpus folder (wav/ and manifest.{train,dev,test}.jsonl)", required=True),
    overwrite_flag=PathFlag("--overwrite", "rebuild even if a finished corpus with other settings exists"))
