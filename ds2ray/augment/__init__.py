"""On-the-fly data augmentation from the seed's JSON config.

Waveform augmentors (``volume``, ``speed``, ``shift``, ``bayesian_normal``, ``noise``, ``impulse``,
and for real-world channels ``colored_noise``, ``reverb``, ``telephone``, ``codec``) run on the
audio before feature extraction; ``freq_warp`` (VTLP) and ``specaugment`` run on the (T, F)
features after it.

    pipe = AugmentPipeline.from_config("conf/augmentation.json")
    rng = AugmentPipeline.rng_for(seed, epoch, index)
    audio = pipe.process_waveform(audio, 16000, rng)
    feats = pipe.process_features(feats, rng)
"""

from ds2ray.augment.base import AUGMENTORS, Augmentor, AugmentConfigError, FeatureAugmentor, WaveformAugmentor
from ds2ray.augment.pipeline import Applied, AugmentPipeline, AugmentStep

__all__ = [
    "AUGMENTORS",
    "Applied",
    "AugmentConfigError",
    "AugmentPipeline",
    "AugmentStep",
    "Augmentor",
    "FeatureAugmentor",
    "WaveformAugmentor",
]
