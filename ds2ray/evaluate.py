"""Run a checkpoint over a manifest: log-probs once, decode, score, rank utterances worst first.

Shapes: ``T'`` output frames per utterance, ``V`` classes (blank = id 0).

Two stages, each usable alone (the tuning grid re-uses stage 1 for every ``alpha``/``beta``):

1. :func:`compute_log_probs`: the acoustic model on Ray actors (``num_workers`` of them, CPU or
   one GPU each), fed batches of utterances by duration; or in this process when ``num_workers``
   is 0. Returns one ``(T', V)`` float32 array per utterance, in input order.
2. :func:`decode_log_probs` (greedy batched here; beam search over warm worker processes or Ray
   actors), or :func:`decode_hypotheses` for texts with word frames, and :func:`score` (jiwer
   counts per utterance and in total; each utterance's words with their times).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from ds2ray.decode.base import DecoderConfig, VocabularyMismatchError
from ds2ray.inference.batches import by_length, cut_batches
from ds2ray.metrics import ErrorCounts, WordCharRates, default_error_rate_type, total, utterance_errors

if TYPE_CHECKING:
    from ds2ray.data.manifest import ManifestEntry
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.decode.timestamps import Hypothesis, Word

log = logging.getLogger(__name__)

#: Sets at least this long show progress bars unless told otherwise.
PROGRESS_MIN_UTTERANCES = 50


# --- stage 1: acoustic model -----------------------------------------------------------------------
@dataclass(frozen=True)
class AudioItem:
    """What a worker needs to read one utterance (``duration`` only matters with an ``offset``)."""

    index: int
    path: str
    offset: float = 0.0
    duration: float | None = None


def _items(entries: Sequence[Any]) -> list[AudioItem]:
    out = []
    for i, e in enumerate(entries):
        offset = float(getattr(e, "offset", 0.0) or 0.0)
        duration = getattr(e, "duration", None)
        out.append(AudioItem(i, e.audio_filepath, offset, float(duration) if (offset and duration) else None))
    return out


class AcousticWorker:
    """Holds one :class:`~ds2ray.inference.model.AcousticModel`; runs in-process or as a Ray actor."""

    def __init__(self, checkpoint: str, device: str = "cpu", max_batch_seconds: float = 120.0,
                 backend: str = "auto") -> None:
        import torch

        from ds2ray.inference.model import load_acoustic_model

        if device == "cpu":
            torch.set_num_threads(1)  # one core per worker: workers scale by processes
        self.model = load_acoustic_model(checkpoint, device=device, backend=backend,
                                         threads=1 if device == "cpu" else None)
        self.max_batch_seconds = max_batch_seconds

    def log_probs(self, items: Sequence[AudioItem]) -> list[tuple[int, np.ndarray]]:
        from ds2ray.data.audio import load_audio

        rate = self.model.feature_config.sample_rate
        audios = [load_audio(it.path, rate, offset=it.offset, duration=it.duration) for it in items]
        outs = self.model.log_probs(audios, max_batch_seconds=self.max_batch_seconds)
        return [(it.index, lp) for it, lp in zip(items, outs)]

    def ready(self) -> bool:
        return True


def _progress(total_items: int, desc: str, progress: bool | None):
    show = total_items >= PROGRESS_MIN_UTTERANCES if progress is None else progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total_items, desc=desc, unit="utt")


def _run_on_ray(checkpoint: str, batches: list[list[AudioItem]], num_workers: int, use_gpu: bool,
                max_batch_seconds: float, backend: str = "auto") -> Iterator[list[tuple[int, np.ndarray]]]:
    import ray

    if not ray.is_initialized():
        raise RuntimeError("compute_log_probs(num_workers>0) needs Ray: call ray.init() first (or num_workers=0)")
    from ds2ray.decode.base import ray_worker_count

    actor_cls = ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0)(AcousticWorker)
    device = "cuda" if use_gpu else "cpu"
    n = ray_worker_count(min(num_workers, len(batches)), gpus_each=1.0 if use_gpu else 0.0,
                         what="acoustic workers")
    actors = [actor_cls.remote(checkpoint, device, max_batch_seconds, backend) for _ in range(n)]
    todo = list(reversed(batches))
    busy: dict[Any, Any] = {}
    try:
        for actor in actors:
            if todo:
                busy[actor.log_probs.remote(todo.pop())] = actor
        while busy:
            done, _ = ray.wait(list(busy), num_returns=1)
            actor = busy.pop(done[0])
            if todo:
                busy[actor.log_probs.remote(todo.pop())] = actor
            yield ray.get(done[0])
    finally:
        for actor in actors:
            ray.kill(actor)


def compute_log_probs(checkpoint: str, entries: Sequence[Any], *, num_workers: int = 0, use_gpu: bool = False,
                      batch_seconds: float = 60.0, progress: bool | None = None,
                      backend: str = "auto") -> list[np.ndarray]:
    """``(T'_i, V)`` log-probs for every entry (anything with ``audio_filepath``, ``duration``,
    optional ``offset``), in input order.

    ``num_workers`` Ray actors (one CPU, or one GPU with ``use_gpu``) each load the checkpoint once;
    0 runs in this process. Work goes out longest first, in batches of at most ``batch_seconds`` of
    padded audio (:func:`~ds2ray.inference.batches.cut_batches`; a longer utterance goes alone).
    ``backend``: torch, onnx, or auto (onnx for a ``.onnx`` file;
    :func:`~ds2ray.inference.model.load_acoustic_model`).
    """
    if not entries:
        raise ValueError("no utterances to run the acoustic model on (empty manifest?)")
    items = _items(entries)
    durations = [float(getattr(e, "duration", 1.0) or 1.0) for e in entries]
    batches = [[items[i] for i in batch]  # longest first: early stragglers
               for batch in cut_batches(durations, by_length(durations, longest_first=True), batch_seconds)]
    results: list[np.ndarray | None] = [None] * len(items)
    bar = _progress(len(items), "acoustic model", progress)
    try:
        if num_workers <= 0:
            import torch

            if use_gpu and not torch.cuda.is_available():
                raise RuntimeError("--use-gpu: no CUDA device visible to this process")
            worker = AcousticWorker(checkpoint, "cuda" if use_gpu else "cpu", max(batch_seconds, 1.0) * 2, backend)
            stream: Iterator = (worker.log_probs(b) for b in batches)
        else:
            stream = _run_on_ray(checkpoint, batches, num_workers, use_gpu, max(batch_seconds, 1.0) * 2, backend)
        for done in stream:
            for i, lp in done:
                results[i] = lp
            if bar is not None:
                bar.update(len(done))
    finally:
        if bar is not None:
            bar.close()
    return results  # type: ignore[return-value]


# --- stage 2: decode and score ---------------------------------------------------------------------
def check_vocabularies(model_vocab: "Vocabulary", other: "Vocabulary", what: str) -> None:
    """Raise :class:`VocabularyMismatchError` naming the differing characters."""
    diff = model_vocab.diff(other)
    if diff:
        raise VocabularyMismatchError(
            f"{what} does not match the checkpoint's vocabulary ({diff}; first = checkpoint). "
            "The checkpoint stores its own vocabulary: drop the --vocab option, or use the checkpoint trained with it."
        )


def decode_log_probs(log_probs: Sequence[np.ndarray], config: DecoderConfig, vocab: "Vocabulary", *,
                     num_workers: int = 1, backend: str = "auto", progress: bool | None = None) -> list[str]:
    """Decode every ``(T', V)`` matrix; beam search spreads over ``num_workers`` workers."""
    return _decode(log_probs, config, vocab, num_workers, backend, progress, words=False)


def decode_hypotheses(log_probs: Sequence[np.ndarray], config: DecoderConfig, vocab: "Vocabulary", *,
                      num_workers: int = 1, backend: str = "auto",
                      progress: bool | None = None) -> list["Hypothesis"]:
    """As :func:`decode_log_probs`, each text with its words' frames (:mod:`ds2ray.decode.timestamps`)."""
    return _decode(log_probs, config, vocab, num_workers, backend, progress, words=True)


def _decode(log_probs: Sequence[np.ndarray], config: DecoderConfig, vocab: "Vocabulary", num_workers: int,
            backend: str, progress: bool | None, words: bool) -> list:
    from ds2ray.decode.parallel import ParallelDecoder

    if config.type != "greedy":
        from ds2ray.decode.beam import validate_lm_for_vocab

        validate_lm_for_vocab(config, vocab)  # clear errors here, before any worker starts
    show = (len(log_probs) >= PROGRESS_MIN_UTTERANCES if progress is None else progress) and config.type != "greedy"
    with ParallelDecoder(config, vocab, num_workers=num_workers, backend=backend) as decoder:
        if words:
            return decoder.hypotheses(log_probs, progress=show)
        return decoder.decode(log_probs, progress=show)


@dataclass(frozen=True)
class UtteranceResult:
    index: int  # position in the manifest
    audio_filepath: str
    duration: float
    ref: str
    hyp: str
    word: ErrorCounts
    char: ErrorCounts
    words: tuple["Word", ...] = ()  # the hypothesis' words with their times (when decoded with them)

    def rate(self, kind: str) -> float:
        return (self.word if kind == "wer" else self.char).rate

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "audio_filepath": self.audio_filepath, "duration": self.duration,
                "ref": self.ref, "hyp": self.hyp, "wer": self.word.rate, "cer": self.char.rate,
                "word_errors": self.word.to_dict(), "char_errors": self.char.to_dict(),
                "words": [w.to_dict() for w in self.words]}


@dataclass
class EvalReport(WordCharRates):
    """Per-utterance results (manifest order) and totals."""

    results: list[UtteranceResult]
    language: str
    decoder: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def word(self) -> ErrorCounts:
        return total(r.word for r in self.results)

    @property
    def char(self) -> ErrorCounts:
        return total(r.char for r in self.results)

    @property
    def audio_seconds(self) -> float:
        return sum(r.duration for r in self.results)

    def error_rate(self, kind: str | None = None) -> float:
        kind = kind or default_error_rate_type(self.language)
        return self.wer if kind == "wer" else self.cer

    def worst_first(self, kind: str | None = None) -> list[UtteranceResult]:
        """Highest error rate first; ties by more errors, then manifest order."""
        kind = kind or default_error_rate_type(self.language)
        return sorted(self.results, key=lambda r: (-r.rate(kind), -(r.word if kind == "wer" else r.char).errors,
                                                   r.index))

    def write_jsonl(self, path: str, kind: str | None = None) -> None:
        """One JSON line per utterance (ref, hyp, rates and counts), worst first."""
        from ds2ray import fileio

        with fileio.atomic_write(path, "wb") as fh:
            for rank, r in enumerate(self.worst_first(kind), 1):
                fh.write((json.dumps({"rank": rank, **r.to_dict()}, ensure_ascii=False) + "\n").encode("utf-8"))

    def summary(self, kind: str | None = None) -> str:
        kind = kind or default_error_rate_type(self.language)
        unit = "characters" if self.language == "zh" else "characters incl. spaces"
        lines = [
            f"utterances: {len(self.results)} ({self.audio_seconds / 60:.1f} min of audio)",
            f"WER: {self.word.summary('words')}",
            f"CER: {self.char.summary(unit)}",
            f"error rate [{kind}] = {self.error_rate(kind):.4f}",
        ]
        if self.timings:
            lines.append("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        return "\n".join(lines)

    def to_dict(self, kind: str | None = None) -> dict[str, Any]:
        return {"utterances": len(self.results), "language": self.language, "wer": self.wer, "cer": self.cer,
                "word_errors": self.word.to_dict(), "char_errors": self.char.to_dict(),
                "error_rate_type": kind or default_error_rate_type(self.language), "decoder": self.decoder,
                "timings": self.timings}


def score(entries: Sequence[Any], hyps: Sequence[str], language: str = "en",
          words: Sequence[Sequence["Word"]] | None = None) -> list[UtteranceResult]:
    """Normalised reference vs hypothesis counts for each entry (``text`` is normalised for ``language``);
    ``words``: each hypothesis' timed words, kept in the results."""
    from ds2ray.data.text import normalize_text

    if len(entries) != len(hyps) or (words is not None and len(words) != len(hyps)):
        raise ValueError(f"{len(entries)} utterances but {len(hyps)} hypotheses"
                         + (f" and {len(words)} word lists" if words is not None else ""))
    out = []
    for i, (e, hyp) in enumerate(zip(entries, hyps)):
        ref = normalize_text(e.text, language)
        word, char = utterance_errors(ref, hyp, language)
        timed = tuple(words[i]) if words is not None else ()
        out.append(UtteranceResult(i, e.audio_filepath, float(e.duration), ref, hyp, word, char, timed))
    return out


def _vocab_and_frame_seconds(checkpoint: str, backend: str) -> tuple["Vocabulary", float]:
    """The vocabulary and seconds per output frame of a checkpoint or an exported ``.onnx``."""
    from ds2ray.inference.model import resolve_backend

    if resolve_backend(checkpoint, backend) == "onnx":
        from ds2ray.inference.onnx_model import load_onnx_model

        onnx_model = load_onnx_model(checkpoint, threads=1)
        return onnx_model.vocab, onnx_model.frame_seconds
    from ds2ray.model.checkpoint import load_checkpoint
    from ds2ray.model.lengths import output_frame_seconds

    data = load_checkpoint(checkpoint)
    return data.vocab, output_frame_seconds(data.model_config, data.feature_config)


def evaluate(checkpoint: str, entries: Sequence["ManifestEntry"], config: DecoderConfig, *,
             vocab: "Vocabulary | None" = None, vocab_source: str = "the given vocabulary", num_workers: int = 0,
             use_gpu: bool = False, decode_workers: int | None = None, progress: bool | None = None,
             backend: str = "auto") -> EvalReport:
    """Log-probs of ``entries`` under ``checkpoint``, decoded with ``config``, scored.

    ``vocab``: a vocabulary the caller expects (e.g. from a ``--vocab`` file, named by
    ``vocab_source`` in the error); it must equal the checkpoint's. ``decode_workers`` defaults to
    ``max(num_workers, 1)``. Entries without a transcript (``text`` empty) score every word of
    their hypothesis as an insertion. Each result carries its hypothesis' words with their times.
    ``backend``: torch, onnx, or auto (onnx for a ``.onnx`` file written by ``ds2ray export``).
    """
    if not entries:
        raise ValueError("the manifest has no utterances to evaluate (empty, or all filtered out)")
    model_vocab, frame_seconds = _vocab_and_frame_seconds(checkpoint, backend)
    if vocab is not None:
        check_vocabularies(model_vocab, vocab, vocab_source)
    if config.type != "greedy":
        from ds2ray.decode.beam import validate_lm_for_vocab

        validate_lm_for_vocab(config, model_vocab)  # fail before the acoustic model runs
    t0 = time.perf_counter()
    log_probs = compute_log_probs(checkpoint, entries, num_workers=num_workers, use_gpu=use_gpu, progress=progress,
                                  backend=backend)
    t1 = time.perf_counter()
    backend = "auto" if num_workers > 0 else "process"
    hyps = decode_hypotheses(log_probs, config, model_vocab, num_workers=decode_workers or max(num_workers, 1),
                             backend=backend, progress=progress)
    t2 = time.perf_counter()
    segments = [h.timed(frame_seconds) for h in hyps]
    results = score(entries, [s.text for s in segments], model_vocab.language, [s.words for s in segments])
    return EvalReport(results, model_vocab.language, config.to_spec(),
                      {"acoustic": t1 - t0, "decode": t2 - t1})
