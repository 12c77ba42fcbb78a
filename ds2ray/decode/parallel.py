"""Decode many utterances in parallel over local processes or Ray actors.

Shapes: each item is one utterance's ``(T_i, V)`` log-prob matrix.

pyctcdecode's own ``decode_batch(pool, ...)`` parks the LM in a class attribute and relies on a
``fork`` pool created *after* the decoder: with a ``spawn`` pool it silently falls back to one
process, a pool created earlier has no model (``KeyError``), and forking a process that already
runs torch or Ray threads can deadlock. Here nothing holding a KenLM model is ever pickled or
forked: each worker (a ``spawn`` process or a Ray actor) receives the small
:class:`~ds2ray.decode.base.DecoderConfig` and :class:`~ds2ray.data.vocab.Vocabulary`, builds its
decoder once, and loads the LM itself once (the per-process cache in :mod:`ds2ray.lm.load`).
Every task carries ``alpha``/``beta``, so a tuning grid re-uses the same warm workers.

Greedy decoding is cheap (thousands of times real time) and always runs in the calling process.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ds2ray.decode.base import DecoderConfig, build_decoder

if TYPE_CHECKING:
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.decode.timestamps import Hypothesis

log = logging.getLogger(__name__)

Chunk = list[tuple[int, np.ndarray]]  # (index in the input, (T, V) log-probs)
Params = tuple[float, float]  # (alpha, beta)


class DecodeWorker:
    """What runs inside each worker: one decoder, built once, LM loaded once."""

    def __init__(self, config: dict, vocab: dict) -> None:
        from ds2ray.data.vocab import Vocabulary

        self.decoder = build_decoder(DecoderConfig.from_dict(config), Vocabulary.from_dict(vocab))

    def decode(self, chunk: Chunk, params: Params, words: bool = False) -> tuple[list[tuple[int, Any]], float]:
        """``(index, text)`` per item (``words``: ``(index, Hypothesis)``), and the CPU seconds this
        worker spent."""
        start = time.process_time()
        if hasattr(self.decoder, "reset_params"):
            self.decoder.reset_params(alpha=params[0], beta=params[1])
        if words:
            hyps = self.decoder.hypotheses([lp for _, lp in chunk])
            return [(i, h) for (i, _), h in zip(chunk, hyps)], time.process_time() - start
        return [(i, self.decoder.decode(lp)) for i, lp in chunk], time.process_time() - start

    def ready(self) -> bool:
        return True


# --- process backend: module-level state of each spawned worker process --------------------------
_WORKER: DecodeWorker | None = None
_WORKER_ERROR: BaseException | None = None


def _process_init(config: dict, vocab: dict) -> None:
    global _WORKER, _WORKER_ERROR
    try:
        _WORKER = DecodeWorker(config, vocab)
    except BaseException as err:  # re-raised on the first task, so the caller sees the real cause
        _WORKER_ERROR = err


def _process_decode(chunk: Chunk, params: Params, words: bool) -> tuple[list[tuple[int, Any]], float]:
    if _WORKER_ERROR is not None:
        raise _WORKER_ERROR
    assert _WORKER is not None
    return _WORKER.decode(chunk, params, words)


class _SerialBackend:
    def __init__(self, config: dict, vocab: dict, num_workers: int) -> None:
        self.worker = DecodeWorker(config, vocab)

    def run(self, chunks: list[Chunk], params: Params, words: bool) -> Iterator[tuple[list[tuple[int, Any]], float]]:
        for chunk in chunks:
            yield self.worker.decode(chunk, params, words)

    def close(self) -> None:
        self.worker = None  # type: ignore[assignment]


class _ProcessBackend:
    def __init__(self, config: dict, vocab: dict, num_workers: int) -> None:
        self.pool = ProcessPoolExecutor(max_workers=num_workers, mp_context=mp.get_context("spawn"),
                                        initializer=_process_init, initargs=(config, vocab))

    def run(self, chunks: list[Chunk], params: Params, words: bool) -> Iterator[tuple[list[tuple[int, Any]], float]]:
        pending: set[Future] = {self.pool.submit(_process_decode, c, params, words) for c in chunks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _RayBackend:
    def __init__(self, config: dict, vocab: dict, num_workers: int) -> None:
        import ray

        if not ray.is_initialized():
            raise RuntimeError("the 'ray' decode backend needs a running Ray (ray.init()); use backend='process'")
        from ds2ray.decode.base import ray_worker_count

        actor_cls = ray.remote(num_cpus=1)(DecodeWorker)
        n = ray_worker_count(num_workers, what="decode workers")
        self.actors = [actor_cls.remote(config, vocab) for _ in range(n)]

    def run(self, chunks: list[Chunk], params: Params, words: bool) -> Iterator[tuple[list[tuple[int, Any]], float]]:
        import ray

        todo = list(reversed(chunks))
        busy: dict[Any, Any] = {}
        for actor in self.actors:
            if todo:
                busy[actor.decode.remote(todo.pop(), params, words)] = actor
        while busy:
            done, _ = ray.wait(list(busy), num_returns=1)
            actor = busy.pop(done[0])
            if todo:
                busy[actor.decode.remote(todo.pop(), params, words)] = actor
            yield ray.get(done[0])

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


BACKENDS: dict[str, Callable[[dict, dict, int], Any]] = {
    "serial": _SerialBackend,
    "process": _ProcessBackend,
    "ray": _RayBackend,
}


def _pick_backend(backend: str, config: DecoderConfig, num_workers: int) -> str:
    if config.type == "greedy" or num_workers <= 1:
        return "serial"
    if backend == "auto":
        import ray

        return "ray" if ray.is_initialized() else "process"
    if backend not in BACKENDS:
        raise ValueError(f"unknown decode backend {backend!r}; expected 'auto' or one of {sorted(BACKENDS)}")
    return backend


def make_chunks(log_probs: Sequence[np.ndarray], num_workers: int, chunks_per_worker: int = 4) -> list[Chunk]:
    """Split into about ``num_workers * chunks_per_worker`` chunks, longest utterances first, so the
    slowest items start early and the last chunks are small (good load balance)."""
    order = sorted(range(len(log_probs)), key=lambda i: -len(log_probs[i]))
    n_chunks = max(1, min(len(order), num_workers * chunks_per_worker))
    size = math.ceil(len(order) / n_chunks) if order else 1
    return [[(i, np.asarray(log_probs[i])) for i in order[k:k + size]] for k in range(0, len(order), size)]


class ParallelDecoder:
    """A pool of decoders (``num_workers`` processes or Ray actors) that stay warm between calls.

    ``backend``: ``"auto"`` (Ray actors when Ray is initialised, else spawned processes),
    ``"process"``, ``"ray"`` or ``"serial"``. Greedy decoding, or one worker, runs in-process.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, config: DecoderConfig, vocab: "Vocabulary", *, num_workers: int = 2,
                 backend: str = "auto") -> None:
        self.config = config
        self.vocab = vocab
        self.num_workers = max(1, int(num_workers))
        self.backend_name = _pick_backend(backend, config, self.num_workers)
        self.worker_cpu_s = 0.0  # CPU seconds the workers spent in the last decode()
        self._backend = BACKENDS[self.backend_name](config.to_dict(), vocab.to_dict(), self.num_workers)

    def reset_params(self, alpha: float | None = None, beta: float | None = None) -> None:
        """New LM weight / word bonus for the next :meth:`decode` (workers keep their loaded LM)."""
        changes = {k: float(v) for k, v in (("alpha", alpha), ("beta", beta)) if v is not None}
        self.config = self.config.replace(**changes)

    def decode(self, log_probs: Sequence[np.ndarray], *, progress: bool = False) -> list[str]:
        """One text per ``(T_i, V)`` matrix, in input order."""
        return self._decode(log_probs, progress, words=False)

    def hypotheses(self, log_probs: Sequence[np.ndarray], *, progress: bool = False) -> list["Hypothesis"]:
        """As :meth:`decode`, each text with its words' frames (:class:`~ds2ray.decode.timestamps.Hypothesis`)."""
        return self._decode(log_probs, progress, words=True)

    def _decode(self, log_probs: Sequence[np.ndarray], progress: bool, words: bool) -> list:
        if len(log_probs) == 0:
            return []
        if self.config.type == "greedy":  # batched on tensors, far faster than any pool
            decoder = self._backend.worker.decoder
            return (decoder.hypotheses if words else decoder.decode_batch)(list(log_probs))
        workers = 1 if self.backend_name == "serial" else self.num_workers
        chunks = make_chunks(log_probs, workers)
        out: list[Any] = [None] * len(log_probs)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(log_probs), desc=f"decode ({self.config.type})", unit="utt")
        self.worker_cpu_s = 0.0
        try:
            for results, cpu in self._backend.run(chunks, (self.config.alpha, self.config.beta), words):
                self.worker_cpu_s += cpu
                for i, text in results:
                    out[i] = text
                if bar is not None:
                    bar.update(len(results))
        finally:
            if bar is not None:
                bar.close()
        if words:
            return out
        return [t if t is not None else "" for t in out]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> "ParallelDecoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def decode_parallel(log_probs: Sequence[np.ndarray], config: DecoderConfig, vocab: "Vocabulary", *,
                    num_workers: int = 2, backend: str = "auto", progress: bool = False) -> list[str]:
    """One-shot :class:`ParallelDecoder`: start the workers, decode, stop them."""
    with ParallelDecoder(config, vocab, num_workers=num_workers, backend=backend) as pd:
        return pd.decode(log_probs, progress=progress)
