"""Synthetic CTC log-probs for decoder, tuning and benchmark tests: no acoustic model needed.

Every function returns a ``(T, V)`` float32 matrix of natural-log probabilities (T frames, V the
vocabulary's size, blank at id 0) that a decoder takes as it would take a model's output.

- :func:`spelled_log_probs`: hand-specified frames, for cases whose answer is worked out by hand;
- :func:`onehot_log_probs`: one confident class per frame;
- :func:`random_log_probs`: random CTC-like frames that spell nothing (search comparisons);
- :func:`synthetic_log_probs`: a text spelled at CTC's pace with letter confusions, in one of the
  :data:`PROFILES` (the tuning tests' ``"confusable"``, the decode bench's ``"peaky"`` and
  ``"uncertain"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ds2ray.data.vocab import Vocabulary

#: ``synthetic_log_probs`` profiles. ``"confusable"``: one frame per character, with probability
#: ``confusion`` a wrong letter wins it (true one a close second), spaces half-confused with blank,
#: so an LM's alpha and word bonus beta change the text. ``"peaky"``: what CTC models are known
#: for, confident blanks almost everywhere (residual mass 10^U(-4,-1.3) on blank frames, characters
#: at p U(0.6, 0.99)); ``"uncertain"``: a weak model, every frame split over 2-3 classes.
PROFILES: dict[str, dict[str, tuple[float, float]]] = {
    "confusable": {},
    "peaky": {"blank_residual_log10": (-4.0, -1.3), "char_p": (0.6, 0.99)},
    "uncertain": {"blank_residual_log10": (-3.0, -1.0), "char_p": (0.5, 0.99)},
}
#: ``synthetic_log_probs``'s default ``confusion`` per profile.
DEFAULT_CONFUSION = {"confusable": 0.2, "peaky": 0.05, "uncertain": 0.05}


def spelled_log_probs(vocab: Vocabulary, spec: Sequence[Mapping[str, float] | str]) -> np.ndarray:
    """``(T, V)`` log-probs from a hand-written spec, ``T = 2 * len(spec)``.

    Each item is a character (it gets p=0.98) or ``{char: prob, ...}``; a blank frame (p=0.98) follows
    each. Every other class gets 1e-4 before each frame is normalised.
    """
    rows = []
    for item in spec:
        probs = {item: 0.98} if isinstance(item, str) else item
        for dist in (probs, {"": 0.98}):
            row = np.full(vocab.size, 1e-4)
            for ch, p in dist.items():
                row[vocab.labels.index(ch)] = p
            rows.append(row / row.sum())
    return np.log(np.array(rows, np.float32))


def onehot_log_probs(ids: Sequence[int], vocab: Vocabulary, rest: float = 0.01) -> np.ndarray:
    """``(T, V)`` log-probs whose best class at frame ``t`` is ``ids[t]`` (probability ``1 - rest``; the
    other classes share ``rest`` evenly)."""
    lp = np.full((len(ids), vocab.size), np.log(rest / (vocab.size - 1)), np.float32)
    lp[np.arange(len(ids)), ids] = np.log(1 - rest)
    return lp


def random_log_probs(rng: np.random.Generator, vocab: Vocabulary, frames: int, spread: float) -> np.ndarray:
    """``(T, V)`` CTC-like log-probs spelling nothing: blank wins 60 % of the frames, a random class the
    rest; a mass drawn from U(0, ``spread``) goes to 1-3 random competitors, every class has ~e^-9.
    ``float64``, rows summing to 1."""
    probs = np.exp(rng.normal(-9, 1, size=(frames, vocab.size)))
    for t in range(frames):
        best = 0 if rng.random() < 0.6 else int(rng.integers(1, vocab.size))
        rest = rng.uniform(0, spread)
        probs[t, best] += 1 - rest
        for other in rng.integers(0, vocab.size, size=int(rng.integers(1, 4))):
            probs[t, other] += rest / 3
    return np.log(probs / probs.sum(1, keepdims=True))


def synthetic_log_probs(text: str, vocab: Vocabulary, rng: np.random.Generator, profile: str = "peaky",
                        confusion: float | None = None) -> np.ndarray:
    """``(T, V)`` CTC-like log-probs spelling normalised ``text``; ``profile`` is one of :data:`PROFILES`,
    ``confusion`` the share of characters a wrong letter wins (default :data:`DEFAULT_CONFUSION`).

    ``"confusable"``: a blank frame, then one frame per character (a wrong letter wins at 0.55 with
    probability ``confusion``, the true one at 0.4; otherwise the true one at 0.9 and a random letter
    0.05; a space 0.55 against blank 0.45) and 1-2 blank frames after each; a blank frame separates
    repeats. The rest is 1e-5 per class.

    ``"peaky"``/``"uncertain"``, at 50 frames/s: 2-5 blank frames, then each character gets one frame
    followed by 1-3 blank frames (2-5 at the end). The residual mass of a frame goes 70 % to one
    competitor (a blank frame: a neighbouring character; a character frame: blank, or the true letter
    when the best one is wrong) and 30 % to a random letter; the other classes get ~e^-9.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown log-prob profile {profile!r}; expected one of {sorted(PROFILES)}")
    if confusion is None:
        confusion = DEFAULT_CONFUSION[profile]
    if profile == "confusable":
        return _confusable(text, vocab, rng, confusion)
    return _peaky(text, vocab, rng, PROFILES[profile], confusion)


def _confusable(text: str, vocab: Vocabulary, rng: np.random.Generator, confusion: float) -> np.ndarray:
    letters = [i for i, c in enumerate(vocab.labels) if c.isalpha()]
    space = vocab.labels.index(" ")
    rows: list[np.ndarray] = []

    def frame(dist: dict[int, float]) -> None:
        row = np.full(vocab.size, 1e-5)
        for k, p in dist.items():
            row[k] += p
        rows.append(row / row.sum())

    frame({0: 0.98})
    prev = None
    for i in vocab.encode(text):
        if i == prev:
            frame({0: 0.98})
        if i == space:
            frame({space: 0.55, 0: 0.45})
        elif rng.random() < confusion:
            wrong = int(rng.choice([k for k in letters if k != i]))
            frame({wrong: 0.55, i: 0.4})
        else:
            frame({i: 0.9, int(rng.choice(letters)): 0.05})
        for _ in range(int(rng.integers(1, 3))):
            frame({0: 0.97})
        prev = i
    return np.log(np.array(rows, np.float32))


def _peaky(text: str, vocab: Vocabulary, rng: np.random.Generator, prof: dict[str, tuple[float, float]],
           confusion: float) -> np.ndarray:
    labels = vocab.labels
    letters = [i for i, c in enumerate(labels) if c.isalpha()]
    ids = vocab.encode(text)
    frames: list[tuple[int, int]] = [(0, ids[0])] * int(rng.integers(2, 6))  # (best class, neighbour char)
    for k, i in enumerate(ids):
        if k and ids[k - 1] == i:
            frames.append((0, i))  # CTC needs a blank between repeats
        wrong = rng.random() < confusion and labels[i].isalpha()
        frames.append((int(rng.choice(letters)) if wrong else i, i))  # a wrong letter keeps the true one second
        nxt = ids[k + 1] if k + 1 < len(ids) else i
        frames += [(0, int(rng.choice([i, nxt])))] * int(rng.integers(1, 4))
    frames += [(0, ids[-1])] * int(rng.integers(2, 6))
    T, V = len(frames), vocab.size
    probs = np.exp(rng.normal(-9.0, 1.0, size=(T, V)))
    lo, hi = prof["blank_residual_log10"]
    for t, (best, neighbour) in enumerate(frames):
        if best == 0:
            rest = 10.0 ** rng.uniform(lo, hi)
            competitor = neighbour
        else:
            rest = 1.0 - rng.uniform(*prof["char_p"])
            competitor = neighbour if neighbour != best else 0
        probs[t, best] += 1.0 - rest
        probs[t, competitor] += 0.7 * rest
        probs[t, int(rng.choice(letters))] += 0.3 * rest
    probs /= probs.sum(axis=1, keepdims=True)
    return np.log(probs).astype(np.float32)
