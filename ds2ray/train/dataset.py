"""Training samples: manifest entries -> (normalised features, label ids), in DataLoader workers.

Per sample: read audio -> waveform augmentation -> features -> normalise -> feature augmentation
(SpecAugment). Augmentation randomness comes from ``AugmentPipeline.rng_for(seed, epoch, index)``,
so it is reproducible and a resumed run sees the same augmented data.

A sample that cannot be read is not fatal: it becomes a :class:`Failure`, the batch goes on
without it, and the loop counts and reports failures per epoch.

Legend: B batch, T frames, F features, U label length.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ds2ray.data.audio import AudioError, load_audio
from ds2ray.data.features import FeatureConfig, FeatureExtractor
from ds2ray.data.manifest import ManifestEntry
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.data.vocab import OutOfVocabularyError, Vocabulary
from ds2ray.model.config import ModelConfig
from ds2ray.model.lengths import output_lengths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    path: str
    offset: float
    duration: float
    text: str  # normalised
    label: tuple[int, ...]
    frames: int  # expected input frames (from the manifest duration)


@dataclass
class PrepareReport:
    kept: int = 0
    out_of_vocabulary: int = 0
    empty: int = 0
    too_short: int = 0  # output frames < label length: CTC cannot align them
    examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        dropped = self.out_of_vocabulary + self.empty + self.too_short
        msg = f"{self.kept} utterances"
        if dropped:
            msg += (f"; dropped {dropped} (out-of-vocabulary {self.out_of_vocabulary}, empty text {self.empty}, "
                    f"too short for the transcript {self.too_short})")
            if self.examples:
                msg += "; e.g. " + " | ".join(self.examples[:2])
        return msg


def prepare_utterances(entries: Sequence[ManifestEntry], vocab: Vocabulary, features: FeatureConfig,
                       model: ModelConfig) -> tuple[list[Utterance], PrepareReport]:
    """Encode transcripts and drop what cannot train: out-of-vocabulary or empty text, or audio too
    short for its transcript under CTC. Counts each reason."""
    report = PrepareReport()
    out: list[Utterance] = []
    for e in entries:
        try:
            label = vocab.encode(e.text)
        except OutOfVocabularyError as err:
            report.out_of_vocabulary += 1
            if len(report.examples) < 5:
                report.examples.append(f"{e.audio_filepath}: {err}")
            continue
        except ValueError as err:  # empty after normalisation
            report.empty += 1
            if len(report.examples) < 5:
                report.examples.append(f"{e.audio_filepath}: {err}")
            continue
        frames = features.num_frames(int(round(e.duration * features.sample_rate)))
        if output_lengths(model, frames) < len(label):
            report.too_short += 1
            continue
        out.append(Utterance(e.audio_filepath, e.offset, e.duration, vocab.normalize(e.text), tuple(label), frames))
    report.kept = len(out)
    return out, report


@dataclass
class Sample:
    index: int
    features: torch.Tensor  # (T, F)
    label: tuple[int, ...]
    duration: float


@dataclass
class Failure:
    index: int
    path: str
    error: str


class SpeechDataset(torch.utils.data.Dataset):
    """Map-style dataset over utterances; ``epoch`` seeds augmentation (set it before each epoch)."""

    def __init__(self, utterances: Sequence[Utterance], features: FeatureConfig, normalizer: NormalizerStats | None,
                 augment_steps: list[dict[str, Any]] | None = None, seed: int = 0, train: bool = True) -> None:
        self.utterances = list(utterances)
        self.features = features
        self.normalizer = normalizer
        self.augment_steps = augment_steps if train else None
        self.seed = seed
        self.epoch = 0
        self._extractor: FeatureExtractor | None = None
        self._augment = None

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def augment(self):
        if self._augment is None and self.augment_steps:
            from ds2ray.augment import AugmentPipeline  # lazy: only with --augment-config

            self._augment = AugmentPipeline.from_config(self.augment_steps)
        return self._augment

    def __getitem__(self, index: int) -> Sample | Failure:
        utt = self.utterances[index]
        try:
            return self._load(index, utt)
        except (AudioError, OSError, ValueError, RuntimeError, EOFError) as err:
            return Failure(index, utt.path, f"{type(err).__name__}: {err}")

    def _load(self, index: int, utt: Utterance) -> Sample:
        sr = self.features.sample_rate
        audio = load_audio(utt.path, sr, offset=utt.offset, duration=utt.duration if utt.offset else None)
        return self.featurize(index, audio)

    def featurize(self, index: int, audio: np.ndarray) -> Sample:
        """Utterance ``index`` from its decoded audio (mono, at the feature sample rate): augment,
        extract, normalise. Raises ``ValueError`` for audio shorter than one analysis window."""
        utt = self.utterances[index]
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.features)
        sr = self.features.sample_rate
        augment = self.augment
        rng = augment.rng_for(self.seed, self.epoch, index) if augment is not None else None
        if augment is not None and augment.has_waveform_stage:
            audio = augment.process_waveform(audio, sr, rng)
        with torch.no_grad():
            feats = self._extractor(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
            if self.normalizer is not None:
                feats = self.normalizer.apply(feats)
            if augment is not None and augment.has_feature_stage:
                feats = augment.process_features(feats, rng)
        if feats.shape[0] == 0:
            raise ValueError(f"{utt.path}: audio shorter than one analysis window")
        return Sample(index, feats.contiguous(), utt.label, len(audio) / sr)


@dataclass
class Batch:
    features: torch.Tensor  # (B, T, F), zero-padded
    lengths: torch.Tensor  # (B,) int64 frames
    targets: torch.Tensor  # (sum U,) int64 label ids, concatenated
    target_lengths: torch.Tensor  # (B,)
    indices: list[int]
    texts_len: int  # sum U
    audio_seconds: float
    failures: list[Failure]

    @property
    def size(self) -> int:
        return len(self.indices)


def collate(items: list[Sample | Failure]) -> Batch:
    """Pad the readable samples of one batch; failures ride along for counting."""
    samples = [s for s in items if isinstance(s, Sample)]
    failures = [s for s in items if isinstance(s, Failure)]
    if samples:
        feats = torch.nn.utils.rnn.pad_sequence([s.features for s in samples], batch_first=True)
        labels = [torch.tensor(s.label, dtype=torch.long) for s in samples]
        targets = torch.cat(labels)
    else:
        feats = torch.zeros(0, 0, 0)
        targets = torch.zeros(0, dtype=torch.long)
    return Batch(
        features=feats,
        lengths=torch.tensor([s.features.shape[0] for s in samples], dtype=torch.long),
        targets=targets,
        target_lengths=torch.tensor([len(s.label) for s in samples], dtype=torch.long),
        indices=[s.index for s in samples],
        texts_len=int(targets.numel()),
        audio_seconds=float(sum(s.duration for s in samples)),
        failures=failures,
    )


def make_loader(dataset: SpeechDataset, batches: list[list[int]], num_workers: int) -> torch.utils.data.DataLoader:
    """A DataLoader that yields :class:`Batch` for exactly ``batches``, in order."""
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs.update(prefetch_factor=4, persistent_workers=False)
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                                       num_workers=num_workers, **kwargs)
