#!/usr/bin/env bash
# aishell: AISHELL-1 Mandarin (OpenSLR 33, 178 h, 400 speakers) with the seed's GRU DS2 (3 x bi-GRU
# 1024) on 4 GPUs, a 5-gram character LM of the training transcripts (pruned 0 1 2 4 4 as the seed
# did), tuned alpha/beta; character error rate (CER).
#
# Usage: jobs/aishell/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# On a Ray cluster: ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- bash jobs/aishell/run.sh ...
# Settings: jobs/aishell/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
