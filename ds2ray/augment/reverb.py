"""``reverb``: reverberation from simulated rooms (pyroomacoustics), without impulse-response files.

Simulating a room per utterance costs 0.1-0.3 s, so each augmentor builds a *bank* of
``bank_size`` room impulse responses (RIRs) once per process and sample rate, on first use, and
then only picks one per utterance and convolves. The bank is seeded by ``bank_seed``, so every
process (every Ray worker) builds the same bank, and the pick is drawn from the pipeline's
per-sample generator: an application is reproducible.

Each room of the bank is a shoebox with length and width drawn from
[min_room_side_m, max_room_side_m], height from [min_room_height_m, max_room_height_m], a target
RT60 from [min_rt60_s, max_rt60_s] (wall absorption from Sabine's formula,
``pyroomacoustics.inverse_sabine``), a microphone anywhere at least :data:`WALL_MARGIN_M` from
the walls and a source at a distance from [min_distance_m, max_distance_m]. The RIR comes from
pyroomacoustics' hybrid simulator: the image source method for the direct path and early
reflections (order :data:`ISM_ORDER`), ray tracing for the late tail, about 3x cheaper than
image sources alone at the same RT60. The ray tracer's generators are seeded from the bank's
(``pyroomacoustics.random.seed``: the library's global generators), so a bank is the same in
every process with the same pyroomacoustics version. Each RIR is cut where its Schroeder decay curve has
fallen by :data:`TAIL_DB` and scaled to a direct-path peak of 1.

Each RIR starts at the direct path (the propagation delay is dropped, except for the first half
of pyroomacoustics' fractional-delay filter). Applying it: the utterance is convolved with the
RIR and the output is taken from the direct-path peak on, so the speech is not delayed (labels
and alignments stay put) and the length is kept; the output is scaled back to the input's RMS
level.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ds2ray.augment.base import WaveformAugmentor, check_range
from ds2ray.augment.impulse import fft_convolve

#: Image-source order of the early reflections; the ray tracer does the rest of the tail.
ISM_ORDER = 6
#: Closest a microphone or source may be to a wall.
WALL_MARGIN_M = 0.3
#: The RIR is cut where the remaining energy is this far below the total.
TAIL_DB = 60.0
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class RoomImpulse:
    """One simulated room: the RIR (M,) float32 with its direct-path peak (1.0) at sample ``direct``
    (about 40: the half-length of the fractional-delay filter), and what was drawn for it."""

    rir: np.ndarray
    direct: int
    rt60_s: float
    room_m: tuple[float, float, float]
    distance_m: float


def _pyroomacoustics():
    try:
        import pyroomacoustics
    except ImportError as err:  # a dependency of ds2ray; only a broken install gets here
        raise RuntimeError("the reverb augmentor needs pyroomacoustics: pip install pyroomacoustics") from err
    return pyroomacoustics


def place(rng: np.random.Generator, room: np.ndarray, min_distance: float,
          max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """A microphone anywhere in ``room`` (3,) metres and a source at a drawn distance from it, both
    at least WALL_MARGIN_M from the walls. The distance is redrawn (and at last shrunk) until
    the source fits."""
    low, high = np.full(3, WALL_MARGIN_M), room - WALL_MARGIN_M
    mic = rng.uniform(low, high)
    distance = rng.uniform(min_distance, max_distance)
    for attempt in range(200):
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        source = mic + distance * direction
        if np.all(source >= low) and np.all(source <= high):
            return mic, source
        if attempt % 20 == 19:
            distance = max(0.1, 0.8 * distance)
    return mic, np.clip(mic + 0.1, low, high)


def simulate_room(rng: np.random.Generator, aug: "ReverbAugmentor", sample_rate: int) -> RoomImpulse:
    """Draw one shoebox room from ``aug``'s ranges and simulate its RIR at ``sample_rate``."""
    pra = _pyroomacoustics()
    for _ in range(100):
        side = rng.uniform(aug.min_room_side_m, aug.max_room_side_m, 2)
        room_dim = np.array([side[0], side[1], rng.uniform(aug.min_room_height_m, aug.max_room_height_m)])
        rt60 = float(rng.uniform(aug.min_rt60_s, aug.max_rt60_s))
        try:
            absorption, max_order = pra.inverse_sabine(rt60, room_dim)
        except ValueError:  # RT60 too short for this room even with fully absorbing walls
            continue
        break
    else:
        raise ValueError(f"reverb: no room with sides {aug.min_room_side_m}-{aug.max_room_side_m} m can have "
                         f"an RT60 as short as {aug.min_rt60_s} s; raise min_rt60_s or lower max_room_side_m")
    mic, source = place(rng, room_dim, aug.min_distance_m, aug.max_distance_m)
    room = pra.ShoeBox(room_dim, fs=sample_rate, materials=pra.Material(absorption),
                       max_order=min(int(max_order), ISM_ORDER), ray_tracing=True, air_absorption=False)
    room.set_ray_tracing()
    room.add_source(source)
    room.add_microphone(mic)
    # the ray tracer draws from pyroomacoustics' own generators: seed them from ours
    pra.random.seed(numpy=int(rng.integers(2 ** 32)), libroom=int(rng.integers(2 ** 63)))
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    distance = float(np.linalg.norm(source - mic))
    # pyroomacoustics centres each arrival in a fractional-delay filter of frac_delay_length taps
    half = pra.constants.get("frac_delay_length") // 2
    expected = int(round(distance / room.c * sample_rate)) + half
    lo = max(0, expected - 3)
    direct = lo + int(np.argmax(np.abs(rir[lo: expected + 4])))
    # drop the propagation delay: keep the direct path's filter from its first tap on
    start = max(0, direct - half)
    rir = rir[start: direct + 1 + tail_length(rir[direct + 1:])]
    direct -= start
    rir /= np.abs(rir[direct])
    return RoomImpulse(rir.astype(np.float32), direct, rt60, tuple(float(v) for v in room_dim), distance)


def tail_length(rir: np.ndarray, tail_db: float = TAIL_DB) -> int:
    """Samples until the Schroeder curve (energy still to come) of ``rir`` is ``tail_db`` down."""
    remaining = np.cumsum(np.square(rir[::-1]))[::-1]
    if remaining.size == 0 or remaining[0] == 0:
        return 0
    below = np.nonzero(remaining < remaining[0] * 10.0 ** (-tail_db / 10.0))[0]
    return int(below[0]) if below.size else rir.size


def reverberate(audio: np.ndarray, room: RoomImpulse) -> np.ndarray:
    """Convolve (N,) or (C, N) ``audio`` with ``room.rir``, aligned on the direct path (nothing is
    delayed), N samples, at the input's RMS level."""
    n = audio.shape[-1]
    padded = np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, room.direct)])
    wet = fft_convolve(padded, room.rir)[..., room.direct: room.direct + n]
    dry_power = float(np.mean(np.square(audio, dtype=np.float64)))
    wet_power = float(np.mean(np.square(wet, dtype=np.float64)))
    if wet_power > 0:
        wet = wet * np.sqrt(dry_power / wet_power)
    return np.ascontiguousarray(wet, dtype=audio.dtype)


@dataclass(frozen=True)
class ReverbAugmentor(WaveformAugmentor, name="reverb"):
    """Convolve with one of ``bank_size`` simulated room impulse responses, drawn per sample."""

    min_rt60_s: float = 0.2
    max_rt60_s: float = 0.8
    min_room_side_m: float = 3.0
    max_room_side_m: float = 8.0
    min_room_height_m: float = 2.5
    max_room_height_m: float = 3.5
    min_distance_m: float = 0.5
    max_distance_m: float = 3.0
    bank_size: int = 64
    bank_seed: int = 0
    #: sample rate -> the bank; filled on first use, travels with the augmentor when pickled.
    banks: dict[int, tuple[RoomImpulse, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_range("reverb", self.min_rt60_s, self.max_rt60_s, "min_rt60_s", "max_rt60_s",
                    minimum=0.05, maximum=3.0)
        check_range("reverb", self.min_room_side_m, self.max_room_side_m, "min_room_side_m", "max_room_side_m",
                    minimum=2 * WALL_MARGIN_M + 0.2, maximum=50.0)
        check_range("reverb", self.min_room_height_m, self.max_room_height_m, "min_room_height_m",
                    "max_room_height_m", minimum=2 * WALL_MARGIN_M + 0.2, maximum=20.0)
        check_range("reverb", self.min_distance_m, self.max_distance_m, "min_distance_m", "max_distance_m",
                    minimum=0.1)
        if self.max_distance_m > self.max_room_side_m:
            raise ValueError(f"max_distance_m={self.max_distance_m} does not fit in a room of at most "
                             f"max_room_side_m={self.max_room_side_m}")
        if not 1 <= self.bank_size <= 4096:
            raise ValueError(f"bank_size must be in [1, 4096] rooms, got {self.bank_size}")
        object.__setattr__(self, "banks", {})

    def bank(self, sample_rate: int) -> tuple[RoomImpulse, ...]:
        """The ``bank_size`` rooms at ``sample_rate``: simulated on the first call (about 0.15 s
        of CPU per room), then cached in this augmentor."""
        bank = self.banks.get(sample_rate)
        if bank is None:
            with _BUILD_LOCK:
                bank = self.banks.get(sample_rate)
                if bank is None:
                    rng = np.random.default_rng(np.random.SeedSequence([self.bank_seed, 0x52495200]))
                    bank = tuple(simulate_room(rng, self, sample_rate) for _ in range(self.bank_size))
                    self.banks[sample_rate] = bank
        return bank

    def prepare(self, sample_rate: int) -> None:
        self.bank(sample_rate)

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {"room": int(rng.integers(self.bank_size))}

    def apply(self, audio: np.ndarray, sample_rate: int, *, room: int) -> np.ndarray:
        if audio.shape[-1] == 0:
            return audio.copy()
        return reverberate(audio, self.bank(sample_rate)[room])
