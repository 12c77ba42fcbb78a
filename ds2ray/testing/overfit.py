"""A tiny DS2 overfit on three espeak-ng utterances: a real trained model for tests of everything
downstream of training (serving, shipped-model packing, float16 storage).

Trained in plain PyTorch (CTC, ~300 steps, one thread; ~30 s of CPU) until greedy decoding
reproduces every utterance as 16-bit PCM, through 8 kHz, MP3 and OGG, so a round trip through any
of those must return the right words. Its features stop at 3.8 kHz, so audio sent at 8 kHz and at
48 kHz look alike to it. Needs ``espeak-ng`` (``make setup`` installs it).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEXTS = ("open the gate", "play some music", "what time is it")
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class OverfitModel:
    checkpoint: str
    texts: tuple[str, ...]
    waves: tuple[np.ndarray, ...]  # mono float32 at SAMPLE_RATE, one per text
    steps: int
    seconds: float


def synthesize(text: str, path: Path) -> np.ndarray:
    from ds2ray.data.audio import load_audio

    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(path), text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return load_audio(str(path), SAMPLE_RATE)


def codec_variants(wave: np.ndarray) -> list[np.ndarray]:
    """``wave`` as the service will see it: as is, as 16-bit PCM, through 8 kHz, MP3 and OGG/Vorbis."""
    import io

    import soundfile as sf
    import soxr

    narrow = soxr.resample(soxr.resample(wave, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE).astype(np.float32)
    out = [wave, np.round(wave * 32767) / 32767, narrow]
    for fmt, rate in (("MP3", SAMPLE_RATE), ("OGG", 22050)):
        buf = io.BytesIO()
        sf.write(buf, soxr.resample(wave, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else wave, rate, format=fmt)
        decoded, native = sf.read(io.BytesIO(buf.getvalue()), dtype="float32")
        out.append(soxr.resample(decoded, native, SAMPLE_RATE).astype(np.float32) if native != SAMPLE_RATE else decoded)
    return out


def _augment(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lead, trail = (rng.uniform(0.0, 0.4, size=2) * SAMPLE_RATE).astype(int)
    out = np.concatenate([np.zeros(lead, np.float32), wave * rng.uniform(0.6, 1.2), np.zeros(trail, np.float32)])
    if rng.random() < 0.5:  # half the time digital silence, as decoders and espeak-ng produce it
        return out.astype(np.float32)
    return (out + rng.normal(0, rng.uniform(1e-4, 3e-3), size=out.shape)).astype(np.float32)


def train_overfit(folder: Path, texts=TEXTS, max_steps: int = 500, seed: int = 0, lr: float = 1e-2) -> OverfitModel:
    """Train the ``tiny`` architecture until it transcribes ``texts`` exactly in every codec variant.

    Saves the checkpoint under ``folder/ckpt``; fails if ``max_steps`` are not enough.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: a second thread only spins (7x the CPU time per step here)
    try:
        return _train(folder, texts, max_steps, seed, lr)
    finally:
        torch.set_num_threads(threads)


def _train(folder: Path, texts, max_steps: int, seed: int, lr: float) -> OverfitModel:
    import torch

    from ds2ray.data.features import FeatureExtractor
    from ds2ray.data.normalizer import NormalizerStats
    from ds2ray.data.vocab import Vocabulary
    from ds2ray.decode.greedy import greedy_ids
    from ds2ray.model.checkpoint import save_checkpoint
    from ds2ray.model.config import get_preset
    from ds2ray.model.deepspeech2 import DeepSpeech2, ctc_loss

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    waves = tuple(synthesize(t, folder / f"utt{i}.wav") for i, t in enumerate(texts))
    preset = get_preset("tiny")
    features = preset.features.replace(f_max=3800.0)
    vocab = Vocabulary.english()
    config = preset.model.for_data(features, vocab.size).replace(rnn_hidden=64)
    extractor = FeatureExtractor(features)

    def featurize(batch: list[np.ndarray]):
        lengths = torch.tensor([len(w) for w in batch])
        padded = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(w) for w in batch], batch_first=True)
        return extractor(padded, lengths)  # (B, T, F), (B,)

    variants = [codec_variants(w) for w in waves]
    base, base_len = featurize(list(waves))
    check, check_len = featurize([v for vs in variants for v in vs])  # done when every variant is right
    expected = [t for t, vs in zip(texts, variants, strict=True) for _ in vs]
    frames = torch.cat([base[i, :n] for i, n in enumerate(base_len.tolist())])
    stats = NormalizerStats(frames.mean(0).numpy(), frames.std(0).clamp_min(1e-2).numpy(), features)
    targets = [torch.tensor(vocab.encode(t)) for t in texts]
    target_cat, target_len = torch.cat(targets), torch.tensor([len(t) for t in targets])

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DeepSpeech2(config)
    # Batch norm stays in eval mode (an identity at init, then a learned affine map): with three
    # utterances, batch statistics would differ between training and serving and the overfit
    # model would only work in train mode. The model has no dropout, so eval mode trains fine.
    model.eval()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    step, hyps = 0, []
    for step in range(1, max_steps + 1):
        feats, lengths = featurize([_augment(v[rng.integers(len(v))], rng) for v in variants])
        logits, out_len = model(stats.apply(feats), lengths)
        loss = ctc_loss(logits, out_len, target_cat, target_len)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step >= 150 and step % 25 == 0:
            with torch.no_grad():
                logits, out_len = model(stats.apply(check), check_len)
            hyps = [vocab.decode(ids) for ids in greedy_ids(logits, out_len)]
            if os.environ.get("DS2RAY_DEBUG_OVERFIT"):
                print(step, round(loss.item(), 3), round(time.perf_counter() - t0, 1), round(time.process_time(), 1),
                      sum(h == e for h, e in zip(hyps, expected, strict=True)), hyps[::len(variants[0])])
            if hyps == expected:
                break
    else:
        raise AssertionError(f"the tiny model did not learn {texts} in {max_steps} steps; last outputs "
                             f"{hyps} (DS2RAY_DEBUG_OVERFIT=1 prints progress)")
    save_checkpoint(str(folder / "ckpt"), model, model_config=config, feature_config=features, vocab=vocab,
                    normalizer=stats)
    return OverfitModel(str(folder / "ckpt"), tuple(texts), waves, step, time.perf_counter() - t0)
