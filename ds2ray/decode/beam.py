"""CTC prefix beam search with a KenLM n-gram LM (shallow fusion) and hotwords.

The search is pyctcdecode's, restated: in a compiled core (:mod:`ds2ray.decode.native`) when it is
built, else in Python (:mod:`ds2ray.decode.prefix_search`); both give pyctcdecode's texts and
scores (hotwords apart: :mod:`ds2ray.decode.hotwords`). pyctcdecode still provides the alphabet,
the LM wrapper, and the search for label sets the restated one does not handle. A decode can be fed
in chunks (:meth:`BeamSearchDecoder.begin` -> :class:`BeamStream`), as streaming recognition does.

Shapes: ``T`` frames, ``V`` classes (blank = id 0, column ``i`` is ``vocab.labels[i]``).

Score of a prefix = acoustic log-prob + ``alpha`` * LM log-prob (natural log) + ``beta`` * words.
Word timestamps (:meth:`BeamSearchDecoder.hypotheses`) are not tracked during the search: the
chosen text is aligned to the log-probs afterwards (:mod:`ds2ray.decode.timestamps`).

English LMs are word LMs: the space label ends a word, and a word is scored when it ends. Mandarin
LMs are character LMs whose "words" are single characters separated by spaces (the seed built them
that way: ``ds2ray lm build --language zh`` does too). pyctcdecode only knows words that end at a
space, so each Mandarin character label goes in as a word-start token (``"▁字"``, pyctcdecode's
BPE convention): every character becomes one LM word, and the spaces between them are removed from
the output.

The KenLM model is loaded once per process (:func:`ds2ray.lm.load.load_lm` caches it), and so is
pyctcdecode's wrapper around it; ``alpha``/``beta`` live in each decoder and are applied before every
decode, so :meth:`BeamSearchDecoder.reset_params` re-tunes without reloading anything.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from ds2ray.decode import native, prefix_search
from ds2ray.decode.base import DecoderConfig, VocabularyMismatchError, check_log_probs, clean_text
from ds2ray.decode.hotwords import HotwordScorer, Phrase, coerce_hotwords, config_phrases, phrase_words
from ds2ray.decode.lm_states import LmStates
from ds2ray.decode.timestamps import Hypothesis, align_text, path_spans, word_frames
from ds2ray.lm.load import LoadedLM, load_lm

if TYPE_CHECKING:
    from ds2ray.data.vocab import Vocabulary

log = logging.getLogger(__name__)

#: pyctcdecode's word-start marker (its "BPE" style), used for Mandarin character labels.
WORD_START = "\u2581"

# One pyctcdecode LanguageModel per loaded KenLM model and process (building its unigram trie costs
# seconds for a large LM). Keyed by the LoadedLM object, which load_lm caches too.
_PYCTC_LMS: dict[int, tuple[LoadedLM, Any]] = {}
_PYCTC_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_pyctcdecode() -> Iterator[None]:
    """Silence pyctcdecode's build-time chatter ("only N unigrams", "UNK token not found")."""
    logger = logging.getLogger("pyctcdecode")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def decoder_labels(vocab: "Vocabulary") -> list[str]:
    """pyctcdecode labels for ``vocab``: English as is; Mandarin characters as word-start tokens."""
    if vocab.language != "zh":
        return vocab.labels
    return [""] + [WORD_START if c == " " else WORD_START + c for c in vocab.chars]


def blank_only(log_probs: np.ndarray, token_min_logp: float) -> np.ndarray:
    """``(T,)`` bool: frames whose best class is blank and whose other classes are all under
    ``token_min_logp`` (the search extends every prefix of such a frame by blank alone)."""
    return (log_probs.argmax(axis=1) == 0) & ~(log_probs[:, 1:] >= token_min_logp).any(axis=1)


def compress_blank_runs(log_probs: np.ndarray, token_min_logp: float) -> tuple[np.ndarray, float]:
    """Drop the 2nd..nth frame of every run of "blank-only" frames; exact for the beam search.

    A frame is blank-only when blank is its best class and no other class reaches
    ``token_min_logp``: the search then extends every prefix by blank alone. The first such frame
    of a run can merge prefixes (one ending in a character with the same one ending in blank);
    the following ones only add the same constant to every prefix, which changes no ranking,
    pruning or merge. CTC outputs are peaky (mostly confident blanks), so this removes most frames.

    ``log_probs``: ``(T, V)`` normalised log-probs. Returns ``(T_kept, V)`` and the dropped frames'
    total blank log-prob (add it to scores to recover the uncompressed ones).
    """
    if len(log_probs) < 2:
        return log_probs, 0.0
    kept, dropped, _ = compress_chunk(log_probs, token_min_logp, False)
    return kept, dropped


def compress_chunk(log_probs: np.ndarray, token_min_logp: float,
                   after_blank_only: bool) -> tuple[np.ndarray, float, bool]:
    """:func:`compress_blank_runs` for one chunk of a stream: ``after_blank_only`` says whether the
    frame before the chunk was blank-only (a run may go on across the boundary). Returns the kept
    frames, the dropped frames' blank log-prob, and whether the chunk's last frame is blank-only."""
    if not len(log_probs):
        return log_probs, 0.0, after_blank_only
    only = blank_only(log_probs, token_min_logp)
    drop = only.copy()
    drop[0] &= after_blank_only
    drop[1:] &= only[:-1]
    last = bool(only[-1])
    if not drop.any():
        return log_probs, 0.0, last
    return log_probs[~drop], float(log_probs[drop, 0].sum()), last


def _normalise(log_probs: np.ndarray) -> np.ndarray:
    """What pyctcdecode does to its input (log-softmax, clipped at log(1e-15)), done once here."""
    from pyctcdecode.constants import MIN_TOKEN_CLIP_P

    shifted = log_probs - log_probs.max(axis=1, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return np.clip(out, np.log(MIN_TOKEN_CLIP_P), 0).astype(np.float32)


def check_lm_vocabulary(vocab: "Vocabulary", unigrams: Sequence[str], lm_name: str) -> None:
    """Raise :class:`VocabularyMismatchError` naming the characters when an LM with these
    ``unigrams`` cannot serve ``vocab``.

    English (word LM): every LM word must be spellable with the vocabulary; words with other
    characters mean the LM was built from differently normalised text. Mandarin (character LM): LM
    words must be single characters, and the LM must know some of the vocabulary's characters
    (a large LM knowing more characters than the acoustic model is normal).
    """
    producible = set(vocab.chars) - {" "}
    lm_chars = set("".join(unigrams))
    vocab_only = "".join(sorted(producible - lm_chars))
    lm_only = "".join(sorted(lm_chars - producible))
    if vocab.language == "zh":
        multi = [w for w in unigrams if len(w) > 1]
        if len(multi) > len(unigrams) // 2:
            raise VocabularyMismatchError(
                f"language model {lm_name}: {len(multi)} of {len(unigrams)} words are longer than one "
                f"character (e.g. {multi[:5]}); Mandarin decoding needs a character LM whose words are single "
                "characters. Build one with `ds2ray lm build --language zh`."
            )
        if not producible & lm_chars:
            raise VocabularyMismatchError(
                f"language model {lm_name} shares no character with the {len(producible)}-character Mandarin "
                f"vocabulary (vocabulary: {vocab_only[:60]!r}..., LM: {lm_only[:60]!r}...). Use an LM built "
                "from text in the same script (`ds2ray lm build --language zh`)."
            )
        if vocab_only:
            log.info("%d vocabulary characters are unknown to the LM: %r", len(vocab_only), vocab_only[:60])
        return
    if lm_only:
        bad = [w for w in unigrams if set(w) - producible]
        raise VocabularyMismatchError(
            f"language model {lm_name}: {len(bad)} of {len(unigrams)} words use "
            f"characters the vocabulary cannot produce: {lm_only!r} (e.g. {bad[:5]}). Vocabulary "
            f"characters: {''.join(vocab.chars)!r}"
            + (f"; vocabulary characters the LM never uses: {vocab_only!r}" if vocab_only else "")
            + ". Rebuild the LM from text normalised like the transcripts (`ds2ray lm build --language en` "
            "keeps a-z, apostrophe and numbers written as words), or pass a unigram list without those words."
        )


def validate_lm_for_vocab(config: DecoderConfig, vocab: "Vocabulary") -> None:
    """The checks :class:`BeamSearchDecoder` makes, without loading the model into memory: the LM
    file exists and has a readable header, its unigram list is found, and it fits ``vocab``."""
    if not config.lm_path:
        return
    from ds2ray.lm.load import lm_format, resolve_unigrams

    fmt = lm_format(config.lm_path)
    words, source = resolve_unigrams(config.lm_path, fmt, config.unigrams)
    check_lm_vocabulary(vocab, words, f"{config.lm_path} (unigrams from {source})")


def _pyctc_language_model(lm: LoadedLM, config: DecoderConfig) -> Any:
    from pyctcdecode.language_model import LanguageModel

    with _PYCTC_LOCK:
        hit = _PYCTC_LMS.get(id(lm))
        if hit is not None and hit[0] is lm:
            return hit[1]
        with _quiet_pyctcdecode():
            wrapped = LanguageModel(lm.model, lm.unigrams, alpha=config.alpha, beta=config.beta,
                                    unk_score_offset=config.unk_score_offset, score_boundary=True)
        _PYCTC_LMS[id(lm)] = (lm, wrapped)
        return wrapped


class BeamStream:
    """One utterance decoded as its frames arrive: ``advance(chunk)`` any number of times, ``best()``
    for the best text so far, ``finish()`` for the final hypotheses. Feeding the frames in chunks
    gives the same texts as one call (the prefixes, and a blank run cut by a chunk boundary, carry
    over); scores agree to float rounding of the dropped blank frames.

    Made by :meth:`BeamSearchDecoder.begin`; the decoder's ``alpha``/``beta`` at ``begin`` hold for the
    whole stream, and several streams may be under way at once.
    """

    def __init__(self, decoder: "BeamSearchDecoder", search: Any, shared_lm: Any = None) -> None:
        self._decoder = decoder
        self._search = search
        # The Python search reads alpha/beta from pyctcdecode's LM wrapper, which every decoder on
        # that LM shares: set this stream's before each step (the compiled search keeps its own).
        self._shared_lm = shared_lm
        cfg = decoder.config
        self._params = {"alpha": cfg.alpha, "beta": cfg.beta, "unk_score_offset": cfg.unk_score_offset}
        self._blank_tail = False  # was the last frame fed a blank-only frame?
        self._dropped = 0.0  # blank log-prob of the frames compression dropped
        self.frames = 0  # frames fed so far

    def advance(self, log_probs: np.ndarray) -> "BeamStream":
        """Feed the next ``(t, V)`` log-probs of the utterance (``t`` may be 0)."""
        lp = check_log_probs(log_probs, self._decoder.vocab)
        if not len(lp):
            return self
        kept, dropped, self._blank_tail = compress_chunk(
            _normalise(lp), self._decoder.config.token_min_logp, self._blank_tail)
        self._dropped += dropped
        self.frames += len(lp)
        if len(kept):
            self._own_params()
            self._search.advance(kept)
        return self

    def best(self) -> str:
        """The best text so far (the word being spelled included), before end-of-utterance scoring."""
        if not self.frames:
            return ""
        return clean_text(self._search.best()[0], self._decoder.vocab.language)

    def finish(self, num_beams: int = 1) -> list[tuple[str, float]]:
        """The best ``num_beams`` (text, combined score) if the utterance ends here, best first. The
        stream may still be advanced afterwards."""
        if not self.frames:
            return [("", 0.0)]
        language = self._decoder.vocab.language
        self._own_params()
        return [(clean_text(t, language), total + self._dropped) for t, _, total in self._search.finish(num_beams)]

    def _own_params(self) -> None:
        if self._shared_lm is not None:
            self._shared_lm.reset_params(**self._params)


class BeamSearchDecoder:
    """:class:`~ds2ray.decode.base.Decoder`: CTC prefix beam search, optionally with a KenLM LM.

    The search runs in the compiled core (:mod:`ds2ray.decode.native`) when it is built, else in
    its Python twin (:mod:`ds2ray.decode.prefix_search`); both give the same results. Hotwords
    (:mod:`ds2ray.decode.hotwords`) come from the config, or per call (``hotwords=``).
    """

    def __init__(self, vocab: "Vocabulary", config: DecoderConfig) -> None:
        from pyctcdecode.alphabet import Alphabet
        from pyctcdecode.decoder import BeamSearchDecoderCTC

        self.vocab = vocab
        self.config = config
        self.lm: LoadedLM | None = load_lm(config.lm_path, config.unigrams) if config.lm_path else None
        language_model = None
        if self.lm is not None:
            check_lm_vocabulary(vocab, self.lm.unigrams, f"{self.lm.path} (unigrams from {self.lm.unigrams_source})")
            language_model = _pyctc_language_model(self.lm, config)
        with _quiet_pyctcdecode():
            alphabet = Alphabet.build_alphabet(decoder_labels(vocab))
        self._decoder = BeamSearchDecoderCTC(alphabet, language_model)
        self._labels = alphabet.labels
        # The restated search (compiled or Python; same results) for our label sets, pyctcdecode's
        # own loop for any other.
        self._fast = prefix_search.supports(self._labels)
        self._native = native.load() if self._fast else None
        self._hotword_cache: dict[tuple, Any] = {}

    @property
    def engine(self) -> str:
        """Which search runs: ``native`` (compiled), ``python`` or ``pyctcdecode``."""
        return "native" if self._native is not None else "python" if self._fast else "pyctcdecode"

    def __del__(self) -> None:
        decoder = getattr(self, "_decoder", None)
        if decoder is not None:
            decoder.cleanup()  # drops this decoder's entry in pyctcdecode's class-level model table

    def __getstate__(self) -> dict:
        raise TypeError(
            "BeamSearchDecoder holds a KenLM model and is not picklable: send its DecoderConfig and "
            "Vocabulary to the worker and build the decoder there (ds2ray.decode.parallel does this)."
        )

    def reset_params(self, alpha: float | None = None, beta: float | None = None) -> None:
        """Change the LM weight and word bonus without reloading the LM."""
        changes = {k: float(v) for k, v in (("alpha", alpha), ("beta", beta)) if v is not None}
        self.config = self.config.replace(**changes)

    def _apply_params(self) -> None:
        # The pyctcdecode LM wrapper is shared by every decoder on this LM in the process: set ours.
        lm = self._decoder._language_model
        if lm is not None:
            lm.reset_params(alpha=self.config.alpha, beta=self.config.beta,
                            unk_score_offset=self.config.unk_score_offset)

    def _phrases(self, hotwords: Sequence | None) -> tuple[Phrase, ...]:
        if hotwords is None:
            return config_phrases(self.config.hotwords, self.config.hotword_weight)
        return coerce_hotwords(hotwords, self.config.hotword_weight)

    def _hotword_scorer(self, phrases: tuple[Phrase, ...], core: Any) -> Any:
        """The hotword tables for ``phrases`` (compiled ones for ``core``, else Python), built once per
        phrase list."""
        if not phrases:
            return None
        hit = self._hotword_cache.get(phrases)
        if hit is None or hit[0] is not core:
            words = [(phrase_words(p, self.vocab.language), w) for p, w in phrases]
            if core is not None:
                tables = self._native.Hotwords(core, [(list(ws), w) for ws, w in words])
            else:
                tables = HotwordScorer(words)
            if len(self._hotword_cache) >= 32:
                self._hotword_cache.clear()
            hit = self._hotword_cache[phrases] = (core, tables)
        return hit[1]

    def begin(self, *, num_beams: int = 1, hotwords: Sequence | None = None) -> BeamStream:
        """Start decoding one utterance incrementally (:class:`BeamStream`). ``num_beams``: how many
        hypotheses :meth:`BeamStream.finish` will be asked for (1 allows pruning shared histories,
        which is faster and keeps the best one exact). ``hotwords``: ``(phrase, weight)`` pairs or
        phrases, instead of the config's."""
        if not self._fast:
            raise NotImplementedError(f"incremental decoding needs character or word-start labels, not {self._labels}")
        self._apply_params()
        cfg = self.config
        lm = self._decoder._language_model
        core = _native_core(self._native, self._labels, lm) if self._native is not None else None
        hot = self._hotword_scorer(self._phrases(hotwords), core)
        prune_history = num_beams == 1
        if core is not None:
            search = self._native.Search(
                core, hot, cfg.beam_width, cfg.beam_prune_logp,
                cfg.token_min_logp, prune_history, cfg.alpha, cfg.beta, cfg.unk_score_offset,
                max(1, (lm.order if lm is not None else 1) - 1))
        else:
            search = prefix_search.PrefixSearch(
                self._labels, lm, beam_width=cfg.beam_width, beam_prune_logp=cfg.beam_prune_logp,
                token_min_logp=cfg.token_min_logp, prune_history=prune_history, hotwords=hot)
            return BeamStream(self, search, shared_lm=lm)
        return BeamStream(self, search)

    def decode_beams(self, log_probs: np.ndarray, num_beams: int = 1, *,
                     hotwords: Sequence | None = None) -> list[tuple[str, float]]:
        """``(T, V)`` log-probs -> the best ``num_beams`` (text, combined score), best first."""
        lp = check_log_probs(log_probs, self.vocab)
        if len(lp) == 0:
            return [("", 0.0)]
        if self._fast:
            return self.begin(num_beams=num_beams, hotwords=hotwords).advance(lp).finish(num_beams)
        self._apply_params()
        cfg = self.config
        lp, dropped = compress_blank_runs(_normalise(lp), cfg.token_min_logp)
        phrases = self._phrases(hotwords)
        beams = self._decoder.decode_beams(
            lp,
            beam_width=cfg.beam_width,
            beam_prune_logp=cfg.beam_prune_logp,
            token_min_logp=cfg.token_min_logp,
            prune_history=num_beams == 1,  # safe for the top beam, much faster
            hotwords=[p for p, _ in phrases] or None,
            hotword_weight=cfg.hotword_weight,
        )
        return [(clean_text(b[0], self.vocab.language), float(b[-1]) + dropped) for b in beams[:num_beams]]

    def decode(self, log_probs: np.ndarray, *, hotwords: Sequence | None = None) -> str:
        """``(T, V)`` log-probs -> text."""
        return self.decode_beams(log_probs, 1, hotwords=hotwords)[0][0]

    def decode_batch(self, log_probs: Sequence[np.ndarray], *, hotwords: Sequence | None = None) -> list[str]:
        """One text per ``(T_i, V)`` matrix, in this process (see ``ds2ray.decode.parallel``)."""
        return [self.decode(m, hotwords=hotwords) for m in log_probs]

    def hypotheses(self, log_probs: Sequence[np.ndarray], *, hotwords: Sequence | None = None) -> list[Hypothesis]:
        """As :meth:`decode_batch`, each text with its words' frames: the best CTC path spelling
        the text, found after the search. That is the best path overall when the text is the
        greedy one (:func:`~ds2ray.decode.timestamps.path_spans`), else a forced alignment
        (:func:`~ds2ray.decode.timestamps.align_text`)."""
        out = []
        for m in log_probs:
            lp = check_log_probs(m, self.vocab)
            if not len(lp):
                out.append(Hypothesis("", (), 0))
                continue
            text = self.decode(lp, hotwords=hotwords)
            ids, starts, ends = path_spans(lp.argmax(axis=1))
            if clean_text(self.vocab.decode(ids.tolist()), self.vocab.language) == text:
                out.append(Hypothesis(text, word_frames(ids, starts, ends, self.vocab), len(lp)))
            else:
                out.append(align_text(lp, text, self.vocab))
        return out


# One compiled core per label set and pyctcdecode LM wrapper in the process: its caches (partial
# words, LM answers per state and word) stay warm across decoders, utterances and alpha/beta.
_CORES: dict[tuple, tuple[Any, Any]] = {}


def forget_native_cores() -> None:
    """Drop this process's compiled cores and their caches (decoders made later start cold; ones
    alive keep theirs): for benchmarks that must compare cold starts."""
    with _PYCTC_LOCK:
        _CORES.clear()


def _native_core(module: Any, labels: Sequence[str], language_model: Any) -> Any:
    # kenlm scores are log10: pyctcdecode's factor to natural log, passed so both use one value
    from pyctcdecode.constants import LOG_BASE_CHANGE_FACTOR

    key = (tuple(labels), id(language_model))
    with _PYCTC_LOCK:
        hit = _CORES.get(key)
        if hit is not None and hit[0] is language_model:
            return hit[1]
        states = LmStates(language_model) if language_model is not None else None
        core = module.Core(list(labels), any(lab.startswith(WORD_START) for lab in labels), states,
                           states.prefix_words() if states is not None else None, LOG_BASE_CHANGE_FACTOR)
        _CORES[key] = (language_model, core)
        return core
