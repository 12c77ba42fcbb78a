#!/usr/bin/env bash
# librispeech: LibriSpeech (OpenSLR 12) train-clean-100 -> dev-clean / test-clean, with the seed's
# exact DS2 (linear spectrogram, 2 convs, 3 x bi-RNN 2048, shared weights) on 4 GPUs, the seed's
# learning rate and per-epoch decay, a 3-gram LM of the training transcripts, tuned alpha/beta; WER.
# --data DIR downloads (or finds) the archives there; for all 960 h: --set data.options.parts=[all].
#
# Usage: jobs/librispeech/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# On a Ray cluster: ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- bash jobs/librispeech/run.sh ...
# Settings: jobs/librispeech/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
