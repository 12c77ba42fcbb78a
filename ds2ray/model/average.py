"""Checkpoint averaging: the element-wise mean of several checkpoints of one run (icefall's ``--avg``).

Weights late in a run sit around a minimum, each step's noise pushing them a little off it; their
mean sits nearer its centre and usually decodes better than any one of them (Izmailov et al. 2018,
"Averaging weights leads to wider optima"; icefall averages the last epochs' checkpoints the same
way). Every floating-point tensor is averaged, batch-norm running statistics included; integer
buffers (``num_batches_tracked``) come from the newest checkpoint.

    ds2ray average runs/x/checkpoint_a runs/x/checkpoint_b ... --out runs/x/averaged
    ds2ray train ... --keep-checkpoints 8 --average-last 6   # at the end of a run: <run>/averaged
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ds2ray.model.checkpoint import CheckpointData, CheckpointError, load_checkpoint, save_checkpoint


def average_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of ``states`` (same keys and shapes), accumulated in float64; non-float tensors from the last."""
    if not states:
        raise ValueError("average_states: no states to average")
    first = states[0]
    for i, state in enumerate(states[1:], 1):
        if state.keys() != first.keys():
            missing = sorted(set(first) ^ set(state))
            raise ValueError(f"state {i} holds different tensors from state 0 ({', '.join(missing[:5])})")
    out: dict[str, torch.Tensor] = {}
    for key, value in first.items():
        if not value.is_floating_point():
            out[key] = states[-1][key].clone()
            continue
        total = torch.zeros(value.shape, dtype=torch.float64)
        for i, state in enumerate(states):
            if state[key].shape != value.shape:
                raise ValueError(f"{key}: shape {tuple(state[key].shape)} in state {i}, {tuple(value.shape)} in state 0")
            total += state[key].to(torch.float64)
        out[key] = (total / len(states)).to(value.dtype)
    return out


def _step(data: CheckpointData) -> int:
    return int(data.metrics.get("step", 0) or 0)


def average_checkpoints(paths: Sequence[str], out: str) -> str:
    """Write the mean of the checkpoints at ``paths`` (one model config, vocabulary and features) to
    the folder ``out``; its metrics name the sources and carry the newest one's step. Returns
    ``out/model.pt``."""
    from ds2ray.model.deepspeech2 import DeepSpeech2

    if not paths:
        raise ValueError("average_checkpoints: give at least one checkpoint")
    loaded = sorted((load_checkpoint(p) for p in paths), key=_step)
    base = loaded[0]
    for data in loaded[1:]:
        for what, a, b in (("model config", base.model_config, data.model_config),
                           ("features", base.feature_config, data.feature_config),
                           ("vocabulary", base.vocab.to_dict(), data.vocab.to_dict())):
            if a != b:
                raise CheckpointError(f"{data.path}: its {what} differs from {base.path}'s; only checkpoints of one "
                                      "model can be averaged")
    model = DeepSpeech2(base.model_config)
    model.load_state_dict(average_states([d.model_state for d in loaded]))
    newest = loaded[-1]
    metrics = {"step": _step(newest), "epoch": newest.metrics.get("epoch"),
               "averaged_from": [d.path for d in loaded], "averaged_steps": [_step(d) for d in loaded]}
    return save_checkpoint(out, model, model_config=base.model_config, feature_config=base.feature_config,
                           vocab=newest.vocab, normalizer=newest.normalizer, train_config=newest.train_config,
                           metrics=metrics)
