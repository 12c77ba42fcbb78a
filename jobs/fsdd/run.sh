#!/usr/bin/env bash
# fsdd: the Free Spoken Digit Dataset (3000 recordings of zero..nine, 6 speakers, 8 kHz) from
# ../shared/data/fsdd (or --data DIR). Trains on 5 speakers and tests on the 6th (theo, never heard
# in training), word error rate with greedy and with beam + a digit LM. Training is capped at
# 15 minutes (train.max_minutes), so the whole recipe (tuning included) fits in 20 minutes on 2 cores.
# Result on this 2-core machine: see jobs/README.md.
#
# Usage: jobs/fsdd/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# On a Ray cluster: ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- bash jobs/fsdd/run.sh ...
# Settings: jobs/fsdd/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
