#!/usr/bin/env bash
# an4: CMU AN4 (about 50 min of training audio: spoken census data, spelled words, numbers;
# SPHERE files), downloaded from CMU unless --data points at an extracted tree
# (--set data.options.source_dir=DIR). The demo model on 2 CPU workers for 45 minutes; WER on
# the official test set (no dev set exists: tuning is skipped).
#
# Usage: jobs/an4/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# On a Ray cluster: ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- bash jobs/an4/run.sh ...
# Settings: jobs/an4/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
